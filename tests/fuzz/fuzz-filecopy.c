/* Fuzz target for the file copy receiver: arbitrary bytes as a stream, unpacked by the real
 * unpacker into a fresh directory. Whatever happens, a refused stream must leave the directory
 * empty, and an accepted one must hold only regular files, directories and symlinks whose
 * targets stay inside. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filecopy-unpack.h"
#include "fsutil.h"
#include "fuzz.h"
#include "util.h"

static char root[] = "/tmp/fuzz-filecopy-XXXXXX";
static bool made;

static void remove_root(void)
{
	rmdir(root);
}

/* Every entry is a regular file, a directory or a symlink we would have accepted. */
static void check_tree(int dirfd, unsigned depth)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	DIR *d = fdopendir(fd);
	if (!d)
		abort();
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		const char *why;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			abort();
		if (fc_name_check(de->d_name, strlen(de->d_name), &why) < 0)
			abort();
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue; /* a mode without u+x: nothing to look at inside */
			check_tree(sub, depth + 1);
			close(sub);
		} else if (S_ISLNK(st.st_mode)) {
			char target[FC_TARGET_MAX + 1];
			ssize_t n = readlinkat(dirfd, de->d_name, target, sizeof(target));
			if (n <= 0 || fc_symlink_target_check(target, (size_t)n, depth, &why) < 0)
				abort();
		} else if (!S_ISREG(st.st_mode) || (st.st_mode & 07000))
			abort();
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filecopy_limits lim;
	struct filecopy_report rep;
	int p[2];

	if (size > 60000)
		return 0; /* fits in a pipe, so no writer thread is needed */
	if (!made) {
		if (!mkdtemp(root))
			abort();
		made = true;
		atexit(remove_root);
	}
	int dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || pipe2(p, O_CLOEXEC) < 0)
		abort();
	if (fcntl(p[1], F_SETPIPE_SZ, 65536) < 0 || write_all(p[1], data, size) < 0)
		abort();
	close(p[1]);

	filecopy_limits_default(&lim);
	lim.max_bytes = 1u << 20;
	lim.max_files = 256;
	/* the length picks the OpenInVM mode for a third of the inputs, valid streams included */
	lim.single_file = size % 3 == 0;
	int r = filecopy_unpack(p[0], dirfd, &lim, &rep);
	close(p[0]);
	if (r < 0) {
		if (rep.msg[0] == '\0')
			abort();
		for (const char *c = rep.msg; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				abort(); /* messages go back to the sender and to logs */
		/* refused: nothing may be left */
		DIR *d = opendir(root);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
				abort();
		if (d)
			closedir(d);
	} else {
		if (rep.bytes > lim.max_bytes || rep.entries > lim.max_files)
			abort();
		check_tree(dirfd, 0);
	}
	(void)rm_children_at(dirfd, true);
	close(dirfd);
	return 0;
}
