/* listen.c - the listening socket (see listen.h). */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3
#define LISTEN_BACKLOG 1024

static int parse_unsigned(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = s ? strtoul(s, &end, 10) : 0;
    return s && *s && !errno && !*end ? 0 : -1;
}

int listen_from_systemd(char *err, size_t err_size, int *error)
{
    unsigned long pid, fds;
    *error = 0;
    if (parse_unsigned(getenv("LISTEN_PID"), &pid) != 0 || pid != (unsigned long)getpid())
        return -1;
    int have = parse_unsigned(getenv("LISTEN_FDS"), &fds) == 0 && fds >= 1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!have)
        return -1;
    int fd = SD_LISTEN_FDS_START;
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
        snprintf(err, err_size, "fd %d from systemd is not a listening socket", fd);
        *error = 1;
        return -1;
    }
    /* Ours alone from now on; libmicrohttpd expects a non-blocking listener. */
    int flags = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || flags < 0 ||
        fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        snprintf(err, err_size, "fd %d from systemd: %s", fd, strerror(errno));
        *error = 1;
        return -1;
    }
    return fd;
}

/* Splits "host:port" / "[v6]:port" into its parts (host "" for any). */
static int split_spec(const char *spec, char *host, size_t host_size, char *port,
                      size_t port_size)
{
    const char *colon;
    size_t host_len;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return -1;
        host_len = (size_t)(close - spec - 1);
        spec++;
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return -1;
        host_len = (size_t)(colon - spec);
    }
    if (host_len >= host_size || strlen(colon + 1) >= port_size || colon[1] == '\0')
        return -1;
    memcpy(host, spec, host_len);
    host[host_len] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int bind_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int listen_bind(const char *spec, char *err, size_t err_size)
{
    char host[256], port[16];
    if (split_spec(spec, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, err_size, "listen: expected ADDR:PORT or [ADDR]:PORT, not \"%s\"", spec);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *list;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &list);
    if (rc != 0) {
        snprintf(err, err_size, "listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (const struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai);
        saved = errno;
    }
    freeaddrinfo(list);
    if (fd < 0)
        snprintf(err, err_size, "listen %s: %s", spec, strerror(saved));
    return fd;
}

int listen_describe(int fd, char *out, size_t size, unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
        *port = ntohs(in->sin_port);
        snprintf(out, size, "%s:%u", addr, *port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
        *port = ntohs(in6->sin6_port);
        snprintf(out, size, "[%s]:%u", addr, *port);
    } else {
        *port = 0;
        snprintf(out, size, "(family %d)", ss.ss_family);
    }
    return 0;
}
