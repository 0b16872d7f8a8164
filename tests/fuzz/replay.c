/* Replays a fuzz target's saved corpus (every file of the directory argv[1]) as an ordinary
 * test, for builds without libFuzzer. A crash or abort fails the test. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

/* Saved inputs are small; anything bigger is a mistake in the corpus. */
#define REPLAY_MAX_INPUT (16u * 1024u * 1024u)

static int replay_file(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((uint64_t)st.st_size > REPLAY_MAX_INPUT)
		return -EFBIG;
	size_t size = (size_t)st.st_size;
	_cleanup_free_ uint8_t *buf = xmalloc(size);
	int r = read_exact(fd, buf, size);
	if (r < 0)
		return r;
	LLVMFuzzerTestOneInput(buf, size);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "Usage: %s CORPUS-DIR\n", argv[0]);
		return EXIT_FAILURE;
	}
	DIR *d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return EXIT_FAILURE;
	}
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int r = replay_file(dirfd(d), de->d_name);
		if (r < 0) {
			fprintf(stderr, "%s/%s: %s\n", argv[1], de->d_name, strerror(-r));
			closedir(d);
			return EXIT_FAILURE;
		}
		n += r;
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, argv[1]);
	/* An empty corpus would make this test pass without testing anything. */
	return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
