/* base64.h - RFC 4648 base64 (standard alphabet, padded). */
#ifndef M2TD_BASE64_H
#define M2TD_BASE64_H

#include <stddef.h>

/* Length of the encoding of n bytes, without a terminating NUL. */
size_t base64_encoded_size(size_t n);

/* Writes base64_encoded_size(n) characters and a NUL into out. */
void base64_encode(const void *data, size_t n, char *out);

#endif
