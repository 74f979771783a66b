// SPDX-License-Identifier: Apache-2.0
// sysfs attributes as the kernel, a driver or an array's firmware fill them
// (sizes, dev numbers, dm names and uuids, INQUIRY strings, VPD pages, FC
// and iSCSI attributes, NVMe controller files). Fixture host trees
// (tests/fixtures/hosts) are copied to /dev/shm once; each input picks a
// tree and overwrites some of its files with fuzzed contents:
//   byte 0: tree; then records of [file index: 2 bytes][length: 1 byte][contents]
// then the device listing, topology and name resolution run over it, and
// the files are restored.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "host/block_devices.h"
#include "host/topology.h"

namespace fs = std::filesystem;

namespace {

struct Tree {
  std::string root;
  std::vector<std::string> files;  // regular files, sorted
  std::map<std::string, std::string> original;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void put(const std::string& path, std::string_view contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(contents.data(), std::streamsize(contents.size()));
}

std::vector<Tree>& trees() {
  static std::vector<Tree> t = [] {
    std::vector<Tree> out;
    const fs::path scratch = "/dev/shm/sanwatch-fuzz-sysfs-" + std::to_string(getpid());
    fs::remove_all(scratch);
    fs::create_directories(scratch);
    for (const char* host : {"iscsi", "nvmeof", "stacked", "broken", "basic"}) {
      Tree tree;
      tree.root = (scratch / host).string();
      fs::copy(fs::path(SANWATCH_FIXTURE_HOSTS) / host, tree.root,
               fs::copy_options::recursive | fs::copy_options::copy_symlinks);
      for (const auto& e : fs::recursive_directory_iterator(tree.root))
        if (e.is_regular_file() && !e.is_symlink()) tree.files.push_back(e.path().string());
      std::sort(tree.files.begin(), tree.files.end());
      for (const auto& f : tree.files) tree.original[f] = slurp(f);
      out.push_back(std::move(tree));
    }
    return out;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Tree& tree = trees()[data[0] % trees().size()];
  std::vector<std::string> touched;
  for (std::size_t i = 1; i + 3 <= size && touched.size() < 16;) {
    const std::size_t index = (std::size_t{data[i]} << 8 | data[i + 1]) % tree.files.size();
    const std::size_t len = std::min<std::size_t>(data[i + 2], size - i - 3);
    put(tree.files[index], {reinterpret_cast<const char*>(data) + i + 3, len});
    touched.push_back(tree.files[index]);
    i += 3 + len;
  }
  const sanwatch::SysfsBlock sys(tree.root);
  if (auto disks = sys.disks(); disks.ok()) {
    const sanwatch::Topology topo = sanwatch::read_topology(sys, *disks);
    for (const auto& d : *disks) (void)topo.map_of(d.name);
    // Name resolution (`hist -d`, `paths`) reads dm names and dev links.
    if (!topo.maps.empty()) (void)sys.resolve(topo.maps.front().label());
  }
  for (const auto& f : touched) put(f, tree.original[f]);
  return 0;
}
