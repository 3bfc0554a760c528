/* sdnotify: the systemd service notification protocol (sd_notify(3)) without libsystemd:
 * one datagram to $NOTIFY_SOCKET, so Type=notify units learn when a daemon is ready. */
#ifndef IPAMWATCH_SDNOTIFY_H
#define IPAMWATCH_SDNOTIFY_H

/* Sends `state` (borrowed; e.g. "READY=1", "STOPPING=1", "STATUS=...") to the socket named
 * by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Returns 1 when sent,
 * 0 when $NOTIFY_SOCKET is not set (not run by systemd: nothing to do), or -errno. Any
 * thread. */
int sdnotify_send(const char *state);

#endif
