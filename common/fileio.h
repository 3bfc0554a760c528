/* fileio: durable file writes every module shares (full writes, atomic replace, mkdir -p).
 *
 * DESIGN: state files (checkpoints, cursors, HEAD, alert state) are replaced whole: the new
 * content goes to "<name>.tmp" in the same directory, is fsynced, renamed over the old file,
 * and the directory is fsynced, so a crash at any point leaves either the old or the new
 * content under the name, never a mix. One writer per path is assumed (the temporary name
 * is fixed, so a crashed writer's leftover is simply overwritten by the next write).
 */
#ifndef IPAMWATCH_FILEIO_H
#define IPAMWATCH_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Flags of fileio_write_atomic(). */
enum fileio_flags {
    FILEIO_NOSYNC = 1 << 0,    /* no fsync at all: atomic against readers, not against crashes */
    FILEIO_NODIRSYNC = 1 << 1, /* fsync the file but not the directory after the rename */
};

/* Writes all `len` bytes of `buf` (borrowed) to `fd`, retrying short writes and EINTR.
 * Returns 0 or -errno (-EIO when write makes no progress). Any thread. */
int fileio_write_all(int fd, const void *buf, size_t len);

/* As fileio_write_all for a socket, with send(MSG_NOSIGNAL): a closed peer gives -EPIPE
 * instead of SIGPIPE. Any thread. */
int fileio_send_all(int fd, const void *buf, size_t len);

/* Fsyncs the directory `dir` (borrowed; NULL or "" means "."), making renames and creations
 * in it durable. Returns 0 or -errno. Any thread. */
int fileio_fsync_dir(const char *dir);

/* Creates `path` (borrowed) and any missing parents with `mode` (umask applies); existing
 * directories are kept as they are. Returns 0, -ENOTDIR when `path` or a parent exists and
 * is not a directory, -ENOENT for an empty path, or the -errno of the failing mkdir, with
 * "mkdir PATH: reason" in `err` (caller's buffer, may be NULL; PATH is the first path that
 * could not be created). Any thread. */
int fileio_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen);

/* Replaces the file `path` (borrowed) with the `len` bytes of `data` (borrowed) atomically:
 * readers and a crash see either the old or the new content. The file is created with
 * `mode` as open(2) does (umask applies), whatever the old file's mode was. `flags` is 0 or
 * FILEIO_* bits. Returns 0 or -errno; on failure the temporary file is removed, the old
 * content stays, and `err` (caller's buffer, may be NULL) names the step and file, e.g.
 * "rename /s/state.tmp to /s/state: No space left on device". Any thread; one writer per
 * path at a time. */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *err, size_t errlen);

/* fileio_write_atomic for `name` (borrowed, no '/') in the directory open as `dirfd`
 * (borrowed, opened with O_DIRECTORY by the caller). Error text names `name` alone. */
int fileio_write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           unsigned flags, char *err, size_t errlen);

#endif
