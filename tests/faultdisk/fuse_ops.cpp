// SPDX-License-Identifier: Apache-2.0
// The FUSE operations of sanwatch-faultdisk: a root directory holding disk
// (the image, every read and write gated by the fault state) and ctl
// (commands in, status out).
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>

#include "faultdisk.h"

namespace faultdisk {
namespace {

constexpr const char* kDiskPath = "/disk";
constexpr const char* kCtlPath = "/ctl";

// ---------------------------------------------------------------------------
// FUSE operations

int fd_getattr(const char* path, struct stat* st, fuse_file_info*) {
  std::memset(st, 0, sizeof(*st));
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_atim = st->st_mtim = st->st_ctim = self().started;
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else if (std::strcmp(path, kDiskPath) == 0) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = static_cast<off_t>(self().size_bytes);
  } else if (std::strcmp(path, kCtlPath) == 0) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
  } else {
    return -ENOENT;
  }
  return 0;
}

int fd_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
  if (std::strcmp(path, "/") != 0) return -ENOTDIR;
  for (const char* name : {".", "..", "disk", "ctl"}) {
    fill(buf, name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  return 0;
}

int fd_open(const char* path, fuse_file_info* fi) {
  const bool is_disk = std::strcmp(path, kDiskPath) == 0;
  const bool is_ctl = std::strcmp(path, kCtlPath) == 0;
  if (!is_disk && !is_ctl) return -ENOENT;
  // direct_io: the page cache must never answer for the disk (latency would
  // be fake), and ctl content is generated per open.
  fi->direct_io = 1;
  fi->keep_cache = 0;
  if (is_ctl && (fi->flags & O_ACCMODE) != O_WRONLY) {
    // Snapshot at open so a reader sees one consistent status.
    fi->fh =
        reinterpret_cast<std::uint64_t>(new std::string(self().faults.render(self().size_bytes)));
  }
  return 0;
}

int fd_release(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<std::string*>(fi->fh);
  fi->fh = 0;
  return 0;
}

int copy_out(const std::string& src, char* buf, std::size_t size, off_t off) {
  if (off < 0 || static_cast<std::size_t>(off) >= src.size()) return 0;
  const std::size_t n = std::min(size, src.size() - static_cast<std::size_t>(off));
  std::memcpy(buf, src.data() + off, n);
  return static_cast<int>(n);
}

int fd_read(const char* path, char* buf, std::size_t size, off_t off, fuse_file_info* fi) {
  Daemon& d = self();
  if (std::strcmp(path, kCtlPath) == 0) {
    if (fi->fh != 0) return copy_out(*reinterpret_cast<std::string*>(fi->fh), buf, size, off);
    return copy_out(d.faults.render(d.size_bytes), buf, size, off);
  }
  if (std::strcmp(path, kDiskPath) != 0) return -ENOENT;
  if (off < 0) return -EINVAL;
  if (const int rc = d.faults.gate(Dir::kRead, off, size); rc != 0) return rc;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return 0;
  const std::size_t n = std::min<std::uint64_t>(size, d.size_bytes - uoff);
  std::memcpy(buf, d.data + uoff, n);
  return static_cast<int>(n);
}

int apply_ctl(const char* buf, std::size_t size) {
  std::istringstream in{std::string(buf, size)};
  bool any = false;
  for (std::string line; std::getline(in, line);) {
    const auto words = split_words(line);
    if (words.empty()) continue;
    any = true;
    if (const auto err = self().faults.apply(words)) {
      log_line("bad ctl command '" + line + "': " + *err);
      return -EINVAL;
    }
    log_line("ctl: " + line);
  }
  if (!any) {
    log_line("bad ctl command: empty write");
    return -EINVAL;
  }
  return static_cast<int>(size);
}

int fd_write(const char* path, const char* buf, std::size_t size, off_t off, fuse_file_info*) {
  if (std::strcmp(path, kCtlPath) == 0) return apply_ctl(buf, size);
  if (std::strcmp(path, kDiskPath) != 0) return -ENOENT;
  Daemon& d = self();
  if (off < 0) return -EINVAL;
  if (const int rc = d.faults.gate(Dir::kWrite, off, size); rc != 0) return rc;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return -ENOSPC;
  const std::size_t n = std::min<std::uint64_t>(size, d.size_bytes - uoff);
  std::memcpy(d.data + uoff, buf, n);
  return static_cast<int>(n);
}

// Shell redirections (echo stall > ctl) open with O_TRUNC.
int fd_truncate(const char* path, off_t size, fuse_file_info*) {
  if (std::strcmp(path, kCtlPath) == 0) return 0;
  if (std::strcmp(path, kDiskPath) == 0) {
    return static_cast<std::uint64_t>(size) == self().size_bytes ? 0 : -EINVAL;
  }
  return -ENOENT;
}

int fd_fsync(const char*, int, fuse_file_info*) { return 0; }

// Discards on the loop device arrive as hole punches; zero the range so a
// discarded block reads back as zeros, like a thin-provisioned disk.
int fd_fallocate(const char* path, int mode, off_t off, off_t len, fuse_file_info*) {
  if (std::strcmp(path, kDiskPath) != 0) return -EOPNOTSUPP;
  if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) return -EOPNOTSUPP;
  Daemon& d = self();
  if (off < 0 || len < 0) return -EINVAL;
  const auto uoff = static_cast<std::uint64_t>(off);
  if (uoff >= d.size_bytes) return 0;
  const std::size_t n = std::min<std::uint64_t>(len, d.size_bytes - uoff);
  std::memset(d.data + uoff, 0, n);
  return 0;
}

void* fd_init(fuse_conn_info* conn, fuse_config* cfg) {
  const Config& c = self().cfg;
  // The default of 12 background requests caps the loop device's in-flight
  // async direct I/O at 12, which would make queue-depth tests lie.
  conn->max_background = c.max_background;
  conn->congestion_threshold = c.max_background * 3 / 4;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  log_line("init: max_background=" + std::to_string(conn->max_background) +
           " congestion_threshold=" + std::to_string(conn->congestion_threshold) +
           " async_dio=" + std::to_string((conn->want & FUSE_CAP_ASYNC_DIO) != 0) +
           " max_write=" + std::to_string(conn->max_write));
  return g_daemon;
}

}  // namespace

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.getattr = fd_getattr;
  ops.readdir = fd_readdir;
  ops.open = fd_open;
  ops.release = fd_release;
  ops.read = fd_read;
  ops.write = fd_write;
  ops.truncate = fd_truncate;
  ops.fsync = fd_fsync;
  ops.fallocate = fd_fallocate;
  ops.init = fd_init;
  return ops;
}

}  // namespace faultdisk
