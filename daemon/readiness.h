/*
 * readiness.h - tells a service manager how the daemon is doing, through
 * the sd_notify datagram protocol ($NOTIFY_SOCKET), without libsystemd.
 */
#ifndef FAXFS_READINESS_H
#define FAXFS_READINESS_H

/* Sends state (e.g. "READY=1\nSTATUS=serving /mnt/fax") when the daemon
 * runs under a manager that asked for it; returns 1 sent, 0 not asked,
 * or -errno. */
int readiness_notify(const char *state);

#endif
