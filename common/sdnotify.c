/* sdnotify: sd_notify(3) datagrams to $NOTIFY_SOCKET. See sdnotify.h. */
#include "sdnotify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static atomic_int ready_parties = 1, ready_seen;
static atomic_bool stopping_sent;

void sdnotify_expect_ready(int parties)
{
    atomic_store(&ready_parties, parties < 1 ? 1 : parties);
    atomic_store(&ready_seen, 0);
    atomic_store(&stopping_sent, false);
}

int sdnotify_send(const char *state)
{
    if (strcmp(state, "READY=1") == 0 &&
        atomic_fetch_add(&ready_seen, 1) + 1 != atomic_load(&ready_parties))
        return 0; /* not the last of the jobs, or already announced */
    if (strcmp(state, "STOPPING=1") == 0 && atomic_exchange(&stopping_sent, true))
        return 0;
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof sun.sun_path)
        return -EINVAL;
    memcpy(sun.sun_path, path, len);
    if (path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
    int rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}
