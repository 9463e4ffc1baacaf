/* notify.c - sd_notify over a unix datagram socket (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The address in $NOTIFY_SOCKET; its length, or 0 when unusable. */
static socklen_t notify_address(struct sockaddr_un *addr)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len = path ? strlen(path) : 0;
    if (len < 2 || len >= sizeof addr->sun_path || (path[0] != '/' && path[0] != '@'))
        return 0;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len);
    if (path[0] == '@')
        addr->sun_path[0] = '\0';   /* abstract namespace: no terminating NUL */
    else
        len++;
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

int notify_send(const char *state)
{
    struct sockaddr_un addr;
    socklen_t addr_len = notify_address(&addr);
    if (addr_len == 0)
        return 0;   /* not started by systemd (or a test): nothing to tell */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(state) ? 0 : -1;
}

int notify_sendf(const char *fmt, ...)
{
    char state[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(state, sizeof state, fmt, ap);
    va_end(ap);
    return notify_send(state);
}

uint64_t notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (!usec)
        return 0;
    if (pid && strtoul(pid, NULL, 10) != (unsigned long)getpid())
        return 0;   /* meant for another process */
    char *end;
    unsigned long long v = strtoull(usec, &end, 10);
    return *end == '\0' ? (uint64_t)v : 0;
}
