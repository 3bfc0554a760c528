/* sdnotify: the systemd service notification protocol (sd_notify(3)) without libsystemd:
 * one datagram to $NOTIFY_SOCKET, so Type=notify units learn when a daemon is ready. */
#ifndef IPAMWATCH_SDNOTIFY_H
#define IPAMWATCH_SDNOTIFY_H

/* Sends `state` (borrowed; e.g. "READY=1", "STOPPING=1", "STATUS=...") to the socket named
 * by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Returns 1 when sent,
 * 0 when $NOTIFY_SOCKET is not set (not run by systemd: nothing to do), or -errno. Any
 * thread. */
int sdnotify_send(const char *state);

/* Makes "READY=1" mean ready only once `parties` (>= 1, default 1) jobs of this process each
 * sent it: the process is announced ready once, when the last of them is, and later
 * "READY=1" are not sent again; "STOPPING=1" is sent once. Call before the jobs start
 * (e.g. `run`: the collector and the analyzer). Any thread. */
void sdnotify_expect_ready(int parties);

#endif
