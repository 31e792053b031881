#include "nic/dmi.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace machnet::nic {
namespace {

constexpr const char* kAzureAssetTag = "7783-7084-3265-9085-8269-3286-77";

std::string dmi_field(Env& env, const char* name) {
  auto text = env.read_file(env.sysfs(std::string("class/dmi/id/") + name));
  if (!text) return "";
  std::string value = *text;
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  return value;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

CloudGuess guess_cloud_from_dmi(Env& env) {
  const std::string sys_vendor = dmi_field(env, "sys_vendor");
  const std::string bios_vendor = dmi_field(env, "bios_vendor");
  const std::string bios_version = dmi_field(env, "bios_version");
  const std::string product_name = dmi_field(env, "product_name");
  const std::string asset_tag = dmi_field(env, "chassis_asset_tag");
  if (sys_vendor == "Microsoft Corporation") {
    if (asset_tag == kAzureAssetTag)
      return {CloudProvider::kAzure, fmt::format("DMI sys_vendor \"{}\", chassis_asset_tag \"{}\"", sys_vendor, asset_tag)};
    return {CloudProvider::kNone, fmt::format("DMI sys_vendor \"{}\" but chassis_asset_tag \"{}\" is not Azure's: plain Hyper-V", sys_vendor, asset_tag)};
  }
  if (sys_vendor == "Amazon EC2" || bios_vendor == "Amazon EC2")
    return {CloudProvider::kAws, fmt::format("DMI sys_vendor \"{}\", bios_vendor \"{}\" (Nitro)", sys_vendor, bios_vendor)};
  if (lower(sys_vendor) == "xen" && lower(bios_version).find("amazon") != std::string::npos)
    return {CloudProvider::kAws, fmt::format("DMI sys_vendor \"{}\", bios_version \"{}\" (Xen on AWS)", sys_vendor, bios_version)};
  if (sys_vendor == "Google" && product_name == "Google Compute Engine")
    return {CloudProvider::kGcp, fmt::format("DMI sys_vendor \"{}\", product_name \"{}\"", sys_vendor, product_name)};
  if (sys_vendor.empty()) return {CloudProvider::kNone, fmt::format("no DMI data under {}", env.sysfs("class/dmi/id"))};
  return {CloudProvider::kNone, fmt::format("DMI sys_vendor \"{}\", product_name \"{}\": not a known cloud", sys_vendor, product_name)};
}

}  // namespace machnet::nic
