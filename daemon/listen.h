/* listen.h - the listening socket: passed by systemd, or bound here. */
#ifndef M2TD_LISTEN_H
#define M2TD_LISTEN_H

#include <stddef.h>

/* The socket systemd passed (LISTEN_PID is us, LISTEN_FDS >= 1: fd 3), or
 * -1 if none. Clears the variables so that they are not inherited. */
int listen_from_systemd(char *err, size_t err_size, int *error);

/* Binds and listens on "ADDR:PORT" ("[V6ADDR]:PORT" for IPv6; "*:PORT" or
 * ":PORT" for every IPv4 address; port 0 picks a free one). */
int listen_bind(const char *spec, char *err, size_t err_size);

/* "ADDR:PORT" of a bound socket, and its port. */
int listen_describe(int fd, char *out, size_t size, unsigned *port);

#endif
