// Fault injection for tests/daemon_disk_full_test.cc, loaded into unitsyncd with
// LD_PRELOAD (test builds only; nothing installs it): while the file named by
// UNITSYNC_EIO_TRIGGER exists, every write to a file whose path starts with
// UNITSYNC_EIO_PREFIX fails with EIO, as a failing disk's would. Other files (the log,
// sockets) are written normally; reads are never touched.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int Failing(int fd) {
  const char* trigger = getenv("UNITSYNC_EIO_TRIGGER");
  const char* prefix = getenv("UNITSYNC_EIO_PREFIX");
  if (trigger == NULL || prefix == NULL || access(trigger, F_OK) != 0) return 0;
  char link[64];
  char path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, prefix, strlen(prefix)) == 0;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  if (Failing(fd)) {
    errno = EIO;
    return -1;
  }
  return NEXT(pwrite64)(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  if (Failing(fd)) {
    errno = EIO;
    return -1;
  }
  return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t write(int fd, const void* buf, size_t n) {
  if (Failing(fd)) {
    errno = EIO;
    return -1;
  }
  return NEXT(write)(fd, buf, n);
}
