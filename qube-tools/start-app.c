/*
 * bulkhead-start-app ID: the bulkhead.StartApp service (Qubes' qubes.StartApp). Starts the
 * application of the qube's own desktop entry ID: the host names an entry, never a command, so
 * what runs is whatever this qube's Exec= says. The program is detached (own session, stdio on
 * /dev/null) and the service returns at once; 1 when the entry or its Exec= is missing or the
 * program could not be started.
 *
 * A qube started for the app (the launcher's Enter on a halted qube) runs this right after its
 * agent said hello, a moment before the guest half of the Wayland proxy has made its socket: so
 * when $WAYLAND_DISPLAY names a socket that is not there yet, the detached app waits for it (at
 * most DISPLAY_WAIT_MS) before it is executed, rather than starting without a display and
 * exiting. The service does not wait: a program that is not there is found out before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "desktop-entry.h"
#include "util.h"

#define ARGS_MAX	64
#define DISPLAY_WAIT_MS 30000

/* Whether execvp would find name: a path, or an executable in $PATH. */
static bool program_found(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0)
			return true;
	}
	return false;
}

/* Until the absolute $WAYLAND_DISPLAY socket exists, or DISPLAY_WAIT_MS went by. */
static void wait_for_display(void)
{
	const char *display = getenv("WAYLAND_DISPLAY");
	struct stat st;
	if (!display || display[0] != '/')
		return;
	for (int waited = 0; waited < DISPLAY_WAIT_MS; waited += 100) {
		if (stat(display, &st) == 0 || errno != ENOENT)
			return;
		nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	}
}

static void take_exec(const char *key, const char *value, void *userdata)
{
	char **exec = userdata;
	if (strcmp(key, "Exec") == 0) {
		free(*exec);
		*exec = xstrdup(value);
	}
}

/* Splits an Exec= value into argv, the desktop entry specification's way: double quotes with
 * backslash escapes, field codes (%f, %U, ...) dropped, "%%" a percent sign. */
static int split_exec(char *s, char **argv)
{
	size_t n = 0;
	char *o = s;

	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		char *start = o;
		bool field_only = true;
		while (*s && *s != ' ') {
			if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && s[1])
						s++;
					*o++ = *s;
				}
				if (*s != '"')
					return -EINVAL;
				s++;
				field_only = false;
			} else if (*s == '%' && s[1]) {
				if (s[1] == '%') {
					*o++ = '%';
					field_only = false;
				}
				s += 2;
			} else {
				*o++ = *s++;
				field_only = false;
			}
		}
		if (*s)
			s++;
		*o++ = '\0';
		if (field_only)
			continue;
		if (n == ARGS_MAX)
			return -E2BIG;
		argv[n++] = start;
	}
	argv[n] = NULL;
	return n ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	char path[1024];
	_cleanup_free_ char *exec = NULL;
	char *args[ARGS_MAX + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: bulkhead-start-app DESKTOP-FILE-ID\n");
		return 2;
	}
	if (desktop_entry_find(argv[1], path, sizeof(path)) < 0 ||
	    desktop_entry_read(path, take_exec, &exec) < 0 || !exec) {
		fprintf(stderr, "bulkhead-start-app: no application '%s'\n", argv[1]);
		return 1;
	}
	if (split_exec(exec, args) < 0) {
		fprintf(stderr, "bulkhead-start-app: %s: cannot use its Exec= line\n", path);
		return 1;
	}
	if (!program_found(args[0])) {
		fprintf(stderr, "bulkhead-start-app: %s: %s\n", args[0], strerror(ENOENT));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || setsid() < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(null, 2) < 0)
			_exit(127);
		/* A grandchild: nobody waits for the app, and it is not ours to reap. */
		if (fork() != 0)
			_exit(0);
		wait_for_display();
		execvp(args[0], args);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bulkhead-start-app: cannot detach %s\n", args[0]);
		return 1;
	}
	printf("started %s\n", argv[1]);
	return 0;
}
