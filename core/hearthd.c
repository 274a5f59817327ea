/* hearthd.c: the daemon's main(). */
#include "config.h"

#include <stdio.h>

#include "log.h"

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("hearthd %s (plugin ABI %d)\n", PACKAGE_VERSION, HEARTH_ABI);
	return 0;
}
