/*
 * bulkhead update [--all | QUBE...]: updates templates the way qubes-vm-update does. Each
 * template runs `apt-get update && apt-get dist-upgrade` as root (started first if halted, shut
 * down again afterwards), several at once, apt fetching through the net qube's updates proxy
 * (bulkhead.UpdatesProxy). Progress lines as they come, a summary at the end.
 *
 * Each update is `bulkhead run -p --user root` of ourselves, so that the command's bytes go the
 * way of every run command; we read their output lines (qube text, printed sanitized).
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "cli.h"
#include "client.h"
#include "util.h"

#define UPDATES_SERVICE "bulkhead.UpdatesProxy"
#define LINE_MAX_LEN	512
#define CONCURRENCY_DEF 4

/* As root in the template: apt never asks (debconf's defaults, the packager's config file kept
 * when it was not changed, ours kept when it was). */
static const char update_script[] =
    "export DEBIAN_FRONTEND=noninteractive\n"
    "apt-get -q update && apt-get -q -y -o Dpkg::Options::=--force-confdef "
    "-o Dpkg::Options::=--force-confold dist-upgrade\n";

enum outcome { PENDING, RUNNING, UPDATED, NO_UPDATES, FAILED };

struct job {
	char *name;
	bool was_running;
	enum outcome outcome;
	pid_t pid;
	int fd; /* the run's stdout and stderr, or -1 */
	char line[LINE_MAX_LEN];
	size_t line_len;
	bool counted;	       /* a "N upgraded, ..." line was seen */
	unsigned long changed; /* upgraded + newly installed + removed */
	char reason[LINE_MAX_LEN];
};

static bool show_output;

struct qube_info {
	const char *name, *klass, *state, *tmpl;
};

static bool get_str(struct json_object *o, const char *key, const char **ret)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	*ret = json_object_get_string(v);
	return true;
}

static bool find_qube(struct json_object *list, const char *name, struct qube_info *ret)
{
	size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(list, i);
		struct qube_info info = {0};
		if (!get_str(q, "name", &info.name) || !streq(info.name, name))
			continue;
		get_str(q, "class", &info.klass);
		get_str(q, "state", &info.state);
		get_str(q, "template", &info.tmpl);
		*ret = info;
		return true;
	}
	return false;
}

/* Where the policy sends the template's updates proxy calls; NULL (with the reason printed)
 * when it sends them nowhere. */
static char *updates_vm(const char *name)
{
	struct json_object *p = json_object_new_object(), *res = NULL;
	const char *result = NULL, *target = NULL, *reason = NULL;
	char *ret = NULL;

	json_object_object_add(p, "source", json_object_new_string(name));
	struct api_error err = {0};
	int r = client_call("admin.policy.Check", "@default", UPDATES_SERVICE, p, &res, &err);
	json_object_put(p);
	if (r < 0) {
		_cleanup_free_ char *prefix = xasprintf("%s: cannot ask the policy", name);
		cli_report(r, &err, prefix);
		api_error_done(&err);
		return NULL;
	}
	get_str(res, "result", &result);
	get_str(res, "target", &target);
	get_str(res, "reason", &reason);
	if (result && streq(result, "allow") && target) {
		ret = xstrdup(target);
	} else {
		fprintf(stderr,
			"bulkhead: %s: no updates proxy: the policy does not allow " UPDATES_SERVICE
			" from it (",
			name);
		cli_print_sanitized(
		    stderr, result && streq(result, "ask")
				? "it asks; give the template a rule with allow target=NETVM"
			    : reason ? reason
				     : "denied");
		fputs("); see bulkhead-update(1)\n", stderr);
	}
	json_object_put(res);
	return ret;
}

static int start_job(struct job *j)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/proc/self/exe", "bulkhead", "run", "-p", "--user", "root", j->name, "--",
		      "sh", "-c", update_script, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	j->pid = pid;
	j->fd = pfd[0];
	j->outcome = RUNNING;
	printf("%s: updating\n", j->name);
	fflush(stdout);
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One line of the run's output: the summary apt prints, errors kept as the reason, progress
 * shown (all of it with --show-output). */
static void on_line(struct job *j, char *line)
{
	/* dpkg ends some lines with a CR of its own. */
	size_t len = strlen(line);
	while (len && line[len - 1] == '\r')
		line[--len] = '\0';
	unsigned long up, inst, rm;
	bool summary =
	    sscanf(line, "%lu upgraded, %lu newly installed, %lu to remove", &up, &inst, &rm) == 3;
	if (summary) {
		j->counted = true;
		j->changed = up + inst + rm;
	}
	if (starts_with(line, "E: ") || starts_with(line, "Err:") ||
	    starts_with(line, "bulkhead: "))
		snprintf(j->reason, sizeof(j->reason), "%s", line);
	if (show_output || starts_with(line, "Get:") || starts_with(line, "Err:") ||
	    starts_with(line, "E: ") || starts_with(line, "W: ") ||
	    starts_with(line, "Unpacking ") || starts_with(line, "Setting up ") || summary) {
		printf("%s: ", j->name);
		cli_print_sanitized(stdout, line);
		putchar('\n');
		fflush(stdout);
	}
}

static void read_job(struct job *j)
{
	char buf[4096];
	ssize_t n = read(j->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (j->line_len) {
			j->line[j->line_len] = '\0';
			on_line(j, j->line);
			j->line_len = 0;
		}
		close(j->fd);
		j->fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || j->line_len == sizeof(j->line) - 1) {
			j->line[j->line_len] = '\0';
			on_line(j, j->line);
			j->line_len = 0;
			if (buf[i] == '\n')
				continue;
		}
		j->line[j->line_len++] = buf[i];
	}
}

static void finish_job(struct job *j, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (code != 0) {
		j->outcome = FAILED;
		if (!j->reason[0])
			snprintf(j->reason, sizeof(j->reason), "exit status %d", code);
	} else {
		j->outcome = j->changed ? UPDATED : NO_UPDATES;
	}
	switch (j->outcome) {
	case UPDATED:
		printf("%s: updated (%lu package%s changed)\n", j->name, j->changed,
		       j->changed == 1 ? "" : "s");
		break;
	case NO_UPDATES:
		printf("%s: no updates\n", j->name);
		break;
	default:
		printf("%s: failed: ", j->name);
		cli_print_sanitized(stdout, j->reason);
		putchar('\n');
	}
	fflush(stdout);
}

/* Runs the jobs, at most max at once; returns when all ended. */
static void run_jobs(struct job *jobs, size_t n, unsigned max)
{
	size_t next = 0, active = 0;
	struct pollfd *p = xcalloc(n ? n : 1, sizeof(*p));

	for (;;) {
		while (active < max && next < n) {
			struct job *j = &jobs[next++];
			if (j->outcome != PENDING)
				continue;
			int r = start_job(j);
			if (r < 0) {
				j->outcome = FAILED;
				snprintf(j->reason, sizeof(j->reason), "cannot start: %s",
					 strerror(-r));
				continue;
			}
			active++;
		}
		if (!active)
			break;
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (jobs[i].outcome == RUNNING && jobs[i].fd >= 0)
				p[k++] = (struct pollfd){.fd = jobs[i].fd, .events = POLLIN};
		if (k && poll(p, k, -1) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			struct job *j = &jobs[i];
			if (j->outcome != RUNNING)
				continue;
			for (size_t m = 0; m < k && j->fd >= 0; m++)
				if (p[m].fd == j->fd && p[m].revents)
					read_job(j);
			if (j->fd >= 0)
				continue;
			/* Output ended: the run ends with it. */
			int status;
			while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
				;
			finish_job(j, status);
			active--;
		}
	}
	free(p);
}

int cmd_update(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"max-concurrency", required_argument, NULL, 'm'},
	    {"show-output", no_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool all = false;
	unsigned long max = CONCURRENCY_DEF;
	int c, r;

	while ((c = getopt_long(argc, argv, "am:oh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'm': {
			char *end;
			errno = 0;
			max = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || max < 1 || max > 64)
				return cli_usage_error(
				    cmd, "--max-concurrency wants 1 to 64, not '%s'", optarg);
			break;
		}
		case 'o':
			show_output = true;
			break;
		default:
			return cli_getopt_default(cmd, c);
		}
	}
	if (all && optind < argc)
		return cli_usage_error(cmd, "give either --all or template names, not both");
	if (!all && optind >= argc)
		return cli_usage_error(cmd, "update needs template names or --all");

	struct json_object *list = NULL;
	if ((r = cli_call("admin.vm.List", "", "", NULL, &list)))
		return r;

	/* Which qubes: every name checked before anything starts. */
	size_t n_list =
	    json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	size_t n = 0;
	struct job *jobs = xcalloc(n_list + (size_t)argc + 1, sizeof(*jobs));
	bool bad = false;
	if (all) {
		for (size_t i = 0; i < n_list; i++) {
			struct qube_info q = {0};
			struct json_object *o = json_object_array_get_idx(list, i);
			if (get_str(o, "name", &q.name) && get_str(o, "class", &q.klass) &&
			    streq(q.klass, "TemplateVM")) {
				get_str(o, "state", &q.state);
				jobs[n].name = xstrdup(q.name);
				jobs[n++].was_running = q.state && !streq(q.state, "Halted");
			}
		}
		if (!n)
			fprintf(stderr, "bulkhead: there are no templates to update\n");
	}
	for (int i = optind; i < argc; i++) {
		struct qube_info q = {0};
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup = dup || streq(jobs[k].name, argv[i]);
		if (dup)
			continue;
		if (!find_qube(list, argv[i], &q)) {
			fputs("bulkhead: no qube named '", stderr);
			cli_print_sanitized(stderr, argv[i]);
			fputs("'\n", stderr);
			bad = true;
		} else if (!q.klass || !streq(q.klass, "TemplateVM")) {
			fprintf(stderr, "bulkhead: %s is a%s %s, not a template: ", q.name,
				q.klass && strchr("AEIOU", q.klass[0]) ? "n" : "",
				q.klass ? q.klass : "qube");
			if (q.tmpl && *q.tmpl)
				fprintf(stderr, "update its template, %s\n", q.tmpl);
			else
				fprintf(stderr,
					"only templates are updated through the net qube\n");
			bad = true;
		} else {
			jobs[n].name = xstrdup(q.name);
			jobs[n++].was_running = q.state && !streq(q.state, "Halted");
		}
	}
	json_object_put(list);
	if (bad || !n) {
		for (size_t i = 0; i < n; i++)
			free(jobs[i].name);
		free(jobs);
		return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}

	/* Each template needs somewhere for apt to fetch through. */
	for (size_t i = 0; i < n; i++) {
		jobs[i].fd = -1;
		_cleanup_free_ char *via = updates_vm(jobs[i].name);
		if (!via) {
			jobs[i].outcome = FAILED;
			snprintf(jobs[i].reason, sizeof(jobs[i].reason), "no updates proxy");
		} else if (show_output || n == 1) {
			printf("%s: updates through %s\n", jobs[i].name, via);
		}
	}

	run_jobs(jobs, n, (unsigned)max);

	/* The templates we started (those halted before and running now) go down again,
	 * together. */
	char **started = xcalloc(n + 1, sizeof(char *));
	size_t n_started = 0;
	int down = cli_call("admin.vm.List", "", "", NULL, &list);
	for (size_t i = 0; i < n && !down; i++) {
		struct qube_info q = {0};
		if (!jobs[i].was_running && find_qube(list, jobs[i].name, &q) && q.state &&
		    !streq(q.state, "Halted"))
			started[n_started++] = jobs[i].name;
	}
	json_object_put(list);
	if (n_started) {
		printf("shutting down %zu template%s\n", n_started, n_started > 1 ? "s" : "");
		fflush(stdout);
		down = cli_shutdown_names(started, n_started);
	}
	free(started);

	unsigned counts[FAILED + 1] = {0};
	for (size_t i = 0; i < n; i++)
		counts[jobs[i].outcome]++;
	printf("summary: %u updated, %u with no updates, %u failed\n", counts[UPDATED],
	       counts[NO_UPDATES], counts[FAILED]);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].outcome == FAILED) {
			printf("  failed: %s: ", jobs[i].name);
			cli_print_sanitized(stdout, jobs[i].reason);
			putchar('\n');
		}
		free(jobs[i].name);
	}
	free(jobs);
	return counts[FAILED] || down ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
