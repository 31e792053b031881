// "did you mean ...?" for mistyped configuration keys and section names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace machnet {

// Levenshtein distance between two short strings.
size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean \"mode\"?" when one of `known` is close to `word`, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& known);

}  // namespace machnet
