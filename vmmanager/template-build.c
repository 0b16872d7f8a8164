/*
 * `bulkhead template build`: runs build-template.sh (which fetches the kernel first) as a child
 * process watched by the event loop, then installs the result as a TemplateVM atomically. Its
 * output goes to a log; its progress lines ("[N/M] what") are passed on to a caller that asked
 * for them, as events before the reply.
 */
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "api-handlers.h"
#include "api-request.h"
#include "api-server.h"
#include "api.h"
#include "appmenu-sync.h"
#include "daemon.h"
#include "log.h"
#include "qube.h"
#include "store.h"
#include "util.h"
#include "volume.h"

#define PRIVATE_SIZE_DEFAULT (2ull * 1024 * 1024 * 1024)

struct build_job {
	struct daemon *d;
	struct client *client;
	uint64_t client_serial;
	char *name;
	char *image; /* the new root, outside the store until it is complete */
	char *log_path;
	int log_fd;
	int pipe_fd;
	int watch;
	pid_t pid;
	bool progress;	/* the caller wants progress events */
	char line[256]; /* the output line being read; longer lines are cut */
	size_t line_len;
	bool line_cut;
	const char *default_menu_items; /* from flavours[], for a new template */
};

/* Each flavour, with what a new template of it gets as its qubes' menu when they set none
 * (Qubes' default-menu-items; appmenu-sync.h): the desktop's programs. */
static const struct {
	const char *name;
	const char *default_menu_items;
} flavours[] = {
    {"minimal", NULL},
    {"debian", NULL},
    {"debian-12", "firefox-esr.desktop thunar.desktop foot.desktop org.pwmt.zathura.desktop"},
};

static bool build_running;

static void job_free(struct build_job *j)
{
	if (j->watch >= 0)
		virEventRemoveHandle(j->watch);
	if (j->pipe_fd >= 0)
		close(j->pipe_fd);
	if (j->log_fd >= 0)
		close(j->log_fd);
	unlink(j->image);
	free(j->image);
	free(j->log_path);
	free(j->name);
	free(j);
	build_running = false;
}

static char *log_tail(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[600];
	if (fd < 0)
		return xstrdup("");
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1,
			  end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0);
	buf[n > 0 ? n : 0] = '\0';
	return xstrdup(buf);
}

/* The reason build-template.sh gave when it stopped: the text of the last "build-template: "
 * line of the log's tail that is not a note (cut off in place), or NULL when there is none (then
 * the whole tail tells more). */
static const char *script_error(char *tail)
{
	static const char prefix[] = "build-template: ";
	const size_t n = sizeof(prefix) - 1;
	char *why = NULL;

	for (char *l = tail; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (strncmp(l, prefix, n) == 0 && strncmp(l + n, "note: ", 6) != 0)
			why = l + n;
	if (why)
		why[strcspn(why, "\n")] = '\0';
	return why;
}

/* Puts the finished image in place: a new TemplateVM, or a new root for an existing one. */
static int install_template(struct build_job *j, char **ret_msg)
{
	struct daemon *d = j->d;
	struct vm *vm = daemon_find_vm(d, j->name);
	int r;

	if (vm) {
		_cleanup_free_ char *root = daemon_qube_file(d, j->name, "root.qcow2");
		if (vm->q->klass != QUBE_TEMPLATEVM || vm->state != VM_HALTED) {
			*ret_msg = xasprintf("'%s' changed while it was being built", j->name);
			return -EBUSY;
		}
		if (rename(j->image, root) < 0) {
			*ret_msg = xasprintf("cannot install the new root: %m");
			return -errno;
		}
		return 0;
	}

	struct qube *q = NULL;
	_cleanup_free_ char *tmpdir = NULL;
	r = qube_new(j->name, QUBE_TEMPLATEVM, LABEL_BLACK, &q);
	if (r < 0) {
		*ret_msg = xasprintf("cannot create '%s': %s", j->name, strerror(-r));
		return r;
	}
	q->qid = daemon_free_qid(d);
	if (j->default_menu_items)
		(void)qube_feature_set(q, APPMENU_DEFAULT_FEATURE, j->default_menu_items);
	r = store_create_begin(d->store, q, &tmpdir);
	if (r >= 0) {
		_cleanup_free_ char *root = xasprintf("%s/root.qcow2", tmpdir);
		_cleanup_free_ char *priv = xasprintf("%s/private.qcow2", tmpdir);
		if (rename(j->image, root) < 0)
			r = -errno;
		if (r >= 0)
			r = volume_create(priv, PRIVATE_SIZE_DEFAULT);
		if (r >= 0)
			r = store_create_commit(d->store, tmpdir, j->name);
		if (r < 0)
			store_create_abort(d->store, tmpdir);
	}
	if (r < 0) {
		*ret_msg = xasprintf("cannot create '%s': %s", j->name, strerror(-r));
		qube_free(q);
		return r;
	}
	daemon_add_vm(d, q);
	events_emit(d, "domain-add", j->name, NULL);
	return 0;
}

/* "[N/M] text": a stage of build-template.sh. */
static bool is_progress_line(const char *l)
{
	const char *p = l;
	if (*p++ != '[' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != '/' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return p[0] == ']' && p[1] == ' ';
}

static void job_line(struct build_job *j)
{
	j->line[j->line_len] = '\0';
	if (!j->progress || !is_progress_line(j->line))
		return;
	struct client *c = client_lookup(j->d, j->client, j->client_serial);
	if (!c)
		return;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string("template-build-progress"));
	json_object_object_add(o, "vm", json_object_new_string(j->name));
	json_object_object_add(o, "line", json_object_new_string(j->line));
	client_send_event(c, o);
	json_object_put(o);
}

static void job_output(struct build_job *j, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (!j->line_cut)
				job_line(j);
			j->line_len = 0;
			j->line_cut = false;
		} else if (j->line_len < sizeof(j->line) - 1) {
			j->line[j->line_len++] = buf[i];
		} else {
			j->line_cut = true;
		}
	}
}

static void job_io(int watch, int fd, int events, void *opaque)
{
	struct build_job *j = opaque;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		if (write_all(j->log_fd, buf, (size_t)n) < 0) {
			/* The log is a convenience; a full disk shows up in the build itself. */
		}
		job_output(j, buf, (size_t)n);
		return;
	}

	int status = 0;
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	struct client *c = client_lookup(j->d, j->client, j->client_serial);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ char *tail = log_tail(j->log_path);
		const char *why = script_error(tail);
		log_error("building template %s failed; log in %s", j->name, j->log_path);
		if (c && why)
			client_reply_error(c, API_E_VM, "building '%s' failed: %s (log: %s)",
					   j->name, why, j->log_path);
		else if (c)
			client_reply_error(c, API_E_VM, "building '%s' failed (log: %s):\n%s",
					   j->name, j->log_path, tail);
	} else {
		_cleanup_free_ char *msg = NULL;
		int r = install_template(j, &msg);
		if (c) {
			if (r < 0)
				client_reply_error(c, API_E_VM, "%s", msg);
			else
				client_reply_ok(c, NULL);
		}
		if (r >= 0)
			log_info("template %s built", j->name);
	}
	job_free(j);
}

void h_template_build(struct daemon *d, struct client *c, const struct api_request *req)
{
	const char *flavour = req->arg;
	const char *name = NULL;
	const char *reason = NULL;
	struct json_object *v;

	bool progress = false;

	if (req->payload && json_object_object_get_ex(req->payload, "name", &v) &&
	    json_object_is_type(v, json_type_string))
		name = json_object_get_string(v);
	if (req->payload && json_object_object_get_ex(req->payload, "progress", &v) &&
	    json_object_is_type(v, json_type_boolean))
		progress = json_object_get_boolean(v);
	bool known = false;
	const char *menu_items = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(flavours); i++)
		if (streq(flavour, flavours[i].name)) {
			known = true;
			menu_items = flavours[i].default_menu_items;
		}
	if (!known) {
		client_reply_error(
		    c, API_E_VALUE,
		    "unknown template flavour '%s' (known: minimal, debian, debian-12)", flavour);
		return;
	}
	if (!name || !*name)
		name = flavour;
	if (qube_name_check(name, &reason) < 0) {
		client_reply_error(c, API_E_VALUE, "invalid qube name '%s': %s", name, reason);
		return;
	}
	struct vm *vm = daemon_find_vm(d, name);
	if (vm && vm->q->klass != QUBE_TEMPLATEVM) {
		client_reply_error(c, API_E_EXISTS, "'%s' exists and is not a TemplateVM", name);
		return;
	}
	if (vm && vm->state != VM_HALTED) {
		client_reply_error(c, API_E_NOT_HALTED,
				   "template '%s' is running; shut it down first", name);
		return;
	}
	if (build_running) {
		client_reply_error(c, API_E_IN_USE, "another template build is running");
		return;
	}

	_cleanup_free_ char *dir = xasprintf("%s/build", d->state_dir);
	mkdir(dir, 0700);
	struct build_job *j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->client = c;
	j->client_serial = client_serial(c);
	j->name = xstrdup(name);
	j->default_menu_items = menu_items;
	j->image = xasprintf("%s/%s.qcow2", dir, name);
	j->log_path = xasprintf("%s/%s.log", dir, name);
	j->watch = -1;
	j->pipe_fd = -1;
	j->progress = progress;
	j->log_fd = open(j->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	int p[2];
	if (j->log_fd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		client_reply_error(c, API_E_VM, "cannot start the build: %m");
		job_free(j);
		return;
	}
	_cleanup_free_ char *build = xasprintf("%s/build-template.sh", d->images_dir);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		client_reply_error(c, API_E_VM, "cannot start the build: %m");
		job_free(j);
		return;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		signal(SIGPIPE, SIG_DFL);
		/* The script fetches the kernel into the state directory first. The Wayland proxy
		 * (its guest half) goes in beside the agent when we have one; without it the
		 * script looks beside the agent. */
		const char *argv[16];
		size_t n = 0;
		argv[n++] = build;
		argv[n++] = "--kernel";
		argv[n++] = d->state_dir;
		if (access(d->wayland_proxy, X_OK) == 0) {
			argv[n++] = "--wayland-proxy";
			argv[n++] = d->wayland_proxy;
		}
		argv[n++] = flavour;
		argv[n++] = j->image;
		argv[n++] = d->agent_path;
		argv[n] = NULL;
		execv(build, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %m\n", build);
		_exit(127);
	}
	close(p[1]);
	j->pid = pid;
	j->pipe_fd = p[0];
	fcntl(j->pipe_fd, F_SETFL, O_NONBLOCK);
	j->watch = virEventAddHandle(j->pipe_fd, VIR_EVENT_HANDLE_READABLE, job_io, j, NULL);
	build_running = true;
	log_info("building template %s (log: %s)", name, j->log_path);
}
