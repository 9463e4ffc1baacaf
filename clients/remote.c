/* remote.c - m2t remote: the same commands, run by an m2td over HTTP. */
#include <stdio.h>

#include "cli.h"

int cli_remote(const char *command, const cli_options *o)
{
    (void)command;
    (void)o;
    return cli_fail("remote", "not available in this build");
}
