/* bulkhead-wayland-proxy: the host half (one per qube, on the host) and the guest half (in the
 * qube) of the Wayland proxy, one binary so the template and the host carry the same code. */
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const char usage[] = "usage: bulkhead-wayland-proxy host --qube NAME\n"
			    "       bulkhead-wayland-proxy guest (--link PATH | --link-fd N) "
			    "--socket PATH\n";

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "host") == 0)
		return host_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "guest") == 0)
		return guest_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	fputs(usage, stderr);
	return 2;
}
