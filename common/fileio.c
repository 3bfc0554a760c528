/* fileio: durable file writes every module shares (full writes, atomic replace, mkdir -p). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"
#include "xalloc.h"

#define TMP_SUFFIX ".tmp"

static int write_loop(int fd, const char *p, size_t len, bool sock)
{
    while (len > 0) {
        ssize_t w = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int fileio_write_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, false);
}

int fileio_send_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, true);
}

int fileio_fsync_dir(const char *dir)
{
    int fd = open(dir && *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* mkdir of one component; an existing directory is success. A parent that exists but is
 * not a directory is left for the next mkdir to report (ENOTDIR naming the longer path). */
static int mkdir_one(const char *path, mode_t mode, bool last, char *err, size_t errlen)
{
    if (mkdir(path, mode) == 0)
        return 0;
    int rc = -errno;
    struct stat sb;
    if (rc == -EEXIST) {
        if (!last || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)))
            return 0;
        rc = -ENOTDIR;
    }
    text_errbuf_set(err, errlen, "mkdir %s: %s", path, strerror(-rc));
    return rc;
}

int fileio_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
    if (!path || !*path) {
        text_errbuf_set(err, errlen, "mkdir: empty directory name");
        return -ENOENT;
    }
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/' || s[-1] == '/')
            continue;
        *s = '\0';
        rc = mkdir_one(p, mode, false, err, errlen);
        *s = '/';
    }
    if (rc == 0)
        rc = mkdir_one(p, mode, true, err, errlen);
    free(p);
    return rc;
}

/* The whole replace in `dirfd`; `shown` is the directory as named in error text ("" when
 * unknown). */
static int write_atomic(int dirfd, const char *shown, const char *name, const void *data,
                        size_t len, mode_t mode, unsigned flags, char *err, size_t errlen)
{
    const char *sep = *shown && shown[strlen(shown) - 1] != '/' ? "/" : "";
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, name);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        text_errbuf_set(err, errlen, "%s%s%s: name too long", shown, sep, name);
        return -ENAMETOOLONG;
    }
    bool sync = !(flags & FILEIO_NOSYNC);
    int rc;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        rc = -errno;
        text_errbuf_set(err, errlen, "open %s%s%s: %s", shown, sep, tmp, strerror(-rc));
        return rc;
    }
    if ((rc = fileio_write_all(fd, data, len)) != 0) {
        text_errbuf_set(err, errlen, "write %s%s%s: %s", shown, sep, tmp, strerror(-rc));
        goto fail;
    }
    if (sync && fsync(fd) != 0) {
        rc = -errno;
        text_errbuf_set(err, errlen, "fsync %s%s%s: %s", shown, sep, tmp, strerror(-rc));
        goto fail;
    }
    rc = close(fd) != 0 ? -errno : 0;
    fd = -1;
    if (rc != 0) {
        text_errbuf_set(err, errlen, "close %s%s%s: %s", shown, sep, tmp, strerror(-rc));
        goto fail;
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        rc = -errno;
        text_errbuf_set(err, errlen, "rename %s%s%s to %s%s%s: %s", shown, sep, tmp, shown, sep,
                        name, strerror(-rc));
        goto fail;
    }
    if (sync && !(flags & FILEIO_NODIRSYNC) && fsync(dirfd) != 0) {
        /* The new content is in place; only its durability is in doubt. */
        rc = -errno;
        text_errbuf_set(err, errlen, "fsync directory %s: %s", *shown ? shown : ".", strerror(-rc));
        return rc;
    }
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    return rc;
}

int fileio_write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           unsigned flags, char *err, size_t errlen)
{
    return write_atomic(dirfd, "", name, data, len, mode, flags, err, errlen);
}

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *err, size_t errlen)
{
    if (!path || !*path) {
        text_errbuf_set(err, errlen, "write: empty file name");
        return -ENOENT;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    const char *name = slash ? slash + 1 : path;
    int rc;
    if (!*name) {
        text_errbuf_set(err, errlen, "write %s: names a directory", path);
        rc = -EISDIR;
        goto out;
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rc = -errno;
        text_errbuf_set(err, errlen, "open directory %s: %s", dir, strerror(-rc));
        goto out;
    }
    rc = write_atomic(dirfd, slash ? dir : "", name, data, len, mode, flags, err, errlen);
    close(dirfd);
out:
    free(dir);
    return rc;
}
