/* A qube's application menu: fetched, converted and stored (appmenu-sync.h). */
#include "appmenu-sync.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <time.h>

#include "appmenu-list.h"
#include "daemon.h"
#include "log.h"
#include "qchan.h"
#include "qube-exec.h"
#include "qube.h"
#include "spawn-async.h"
#include "store.h"
#include "util.h"

/* The qube's services (images/build-template.sh links them there), run as its default user,
 * who owns ~/.local/share/applications. */
#define SERVICE_APPMENUS "/etc/bulkhead/rpc/bulkhead.GetAppmenus"
#define SERVICE_IMAGE	 "/etc/bulkhead/rpc/bulkhead.GetImageRGBA"
#define LIST_TIMEOUT_MS	 30000
#define ICON_TIMEOUT_MS	 15000
#define STORE_MAX	 (8 * 1024 * 1024) /* 256 icons of at most ~23 KiB in base64 */
#define CONVERT_WHY_MAX	 200

_Static_assert(APPMENU_OUTPUT_MAX == QUBE_EXEC_STDOUT_MAX, "the list is capped where it is read");

struct sync_job {
	struct daemon *d;
	char *name;
	struct appmenu_list list;
	char **icons; /* per entry: base64 PNG, or NULL */
	size_t next;  /* the entry whose icon is being fetched */
	appmenu_sync_done_fn done;
	void *userdata;
};

static void next_icon(struct sync_job *j);

static void job_finish(struct sync_job *j, const char *error)
{
	struct vm *vm = daemon_find_vm(j->d, j->name);
	if (vm)
		vm->apps_syncing = false;
	if (error)
		log_warn("applications of %s not synced (the stored list is unchanged): %s",
			 j->name, error);
	j->done(j->d, j->name, error, j->userdata);
	for (size_t i = 0; i < j->list.n; i++)
		free(j->icons[i]);
	free(j->icons);
	appmenu_list_done(&j->list);
	free(j->name);
	free(j);
}

static void job_fail(struct sync_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void job_fail(struct sync_job *j, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	job_finish(j, msg);
	free(msg);
}

/* Why a run of a service in the qube did not complete, in words. */
static const char *exec_error(int r)
{
	switch (r) {
	case -EMSGSIZE:
		return "it sent more than 64 KiB";
	case -ETIMEDOUT:
		return "it did not finish in time";
	case -EPIPE:
		return "the qube went away (or its channel closed) before it finished";
	case -EBADMSG:
		return "its channel sent a broken frame";
	default:
		return strerror(-r);
	}
}

static void commit(struct sync_job *j)
{
	struct json_object *o = json_object_new_object(), *apps = json_object_new_array();
	for (size_t i = 0; i < j->list.n; i++) {
		struct json_object *a = json_object_new_object();
		json_object_object_add(a, "id", json_object_new_string(j->list.v[i].id));
		json_object_object_add(a, "name", json_object_new_string(j->list.v[i].name));
		if (j->icons[i])
			json_object_object_add(a, "icon", json_object_new_string(j->icons[i]));
		json_object_array_add(apps, a);
	}
	json_object_object_add(o, "synced", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "apps", apps);
	_cleanup_free_ char *text =
	    xasprintf("%s\n", json_object_to_json_string_ext(
				  o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	int r = store_write_qube_file(j->d->store, j->name, APPMENU_STORE_FILE, text);
	if (r < 0)
		return job_fail(j, "cannot store the list: %s", strerror(-r));
	log_info("applications of %s synced: %zu", j->name, j->list.n);
	job_finish(j, NULL);
}

/* "png BASE64\n" and nothing else: what the converter prints when it made a PNG. */
static char *converted_png(const char *out)
{
	if (strncmp(out, "png ", 4) != 0)
		return NULL;
	size_t n =
	    strspn(out + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
	if (n == 0 || n % 4 || strcmp(out + 4 + n, "\n") != 0)
		return NULL;
	return strndup(out + 4, n) ?: (abort(), NULL);
}

static void convert_done(int status, const char *output, void *userdata)
{
	struct sync_job *j = userdata;
	const struct appmenu_entry *e = &j->list.v[j->next];

	if (status == 0 && (j->icons[j->next] = converted_png(output))) {
		j->next++;
		return next_icon(j);
	}
	/* The converter read the qube's bytes: its words are kept to printable ASCII. */
	char why[CONVERT_WHY_MAX + 1];
	size_t n = 0;
	const char *p = strncmp(output, "error: ", 7) == 0 ? output + 7 : "";
	for (; *p && *p != '\n' && n < CONVERT_WHY_MAX; p++)
		why[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
	why[n] = '\0';
	job_fail(j, "the icon of %s is unusable: %s", e->id,
		 n	  ? why
		 : status ? "bulkhead-icon-convert failed"
			  : "unexpected converter output");
}

static void icon_done(int r, int status, const char *out, size_t out_len, void *userdata)
{
	struct sync_job *j = userdata;
	const struct appmenu_entry *e = &j->list.v[j->next];
	struct vm *vm = daemon_find_vm(j->d, j->name);

	if (r < 0)
		return job_fail(j, "bulkhead.GetImageRGBA for %s did not complete: %s", e->id,
				exec_error(r));
	if (status != 0 || !vm) {
		/* No icon to give (a theme icon that is not a PNG, say): the app goes without. */
		j->next++;
		return next_icon(j);
	}
	_cleanup_close_ int fd = memfd_create("bulkhead-icon", MFD_CLOEXEC);
	if (fd < 0 || write_all(fd, out, out_len) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return job_fail(j, "cannot pass the icon of %s on: %s", e->id, strerror(errno));
	char uid[16];
	snprintf(uid, sizeof(uid), "%u", (unsigned)qchan_qube_uid(j->d, vm));
	const char *argv[] = {j->d->icon_convert, "--uid", uid, NULL};
	r = spawn_async_stdin(argv, fd, convert_done, j);
	if (r < 0)
		job_fail(j, "cannot run %s: %s", j->d->icon_convert, strerror(-r));
}

static void next_icon(struct sync_job *j)
{
	while (j->next < j->list.n && !j->list.v[j->next].icon)
		j->next++;
	if (j->next == j->list.n)
		return commit(j);
	struct vm *vm = daemon_find_vm(j->d, j->name);
	if (!vm || vm->state != VM_RUNNING || !qchan_ready(vm))
		return job_fail(j, "the qube stopped during the sync");
	const char *argv[] = {SERVICE_IMAGE, j->list.v[j->next].icon, NULL};
	int r = qube_exec(j->d, vm, "", argv, NULL, 0, ICON_TIMEOUT_MS, icon_done, j);
	if (r < 0)
		job_fail(j, "cannot ask the qube for an icon: %s", strerror(-r));
}

static void list_done(int r, int status, const char *out, size_t out_len, void *userdata)
{
	struct sync_job *j = userdata;
	const char *why = NULL;

	if (r < 0)
		return job_fail(j, "bulkhead.GetAppmenus did not complete: %s", exec_error(r));
	if (status != 0)
		return job_fail(j, "bulkhead.GetAppmenus exited with status %d%s", status,
				status == 127 ? " (not in the qube: a template built before it "
						"existed?)"
					      : "");
	r = appmenu_list_parse(out, out_len, &j->list, &why);
	if (r < 0)
		return job_fail(j, "the qube's list was refused: %s", why);
	j->icons = xcalloc(j->list.n ?: 1, sizeof(*j->icons));
	next_icon(j);
}

int appmenu_sync(struct daemon *d, struct vm *vm, appmenu_sync_done_fn done, void *userdata)
{
	static const char *const argv[] = {SERVICE_APPMENUS, NULL};

	if (vm->apps_syncing)
		return -EBUSY;
	struct sync_job *j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->name = xstrdup(vm->q->name);
	j->done = done;
	j->userdata = userdata;
	int r = qube_exec(d, vm, "", argv, NULL, 0, LIST_TIMEOUT_MS, list_done, j);
	if (r < 0) {
		free(j->name);
		free(j);
		return r;
	}
	vm->apps_syncing = true;
	return 0;
}

int appmenu_load(struct daemon *d, const char *qube, struct json_object **ret)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *o, *apps;

	int r = store_read_qube_file(d->store, qube, APPMENU_STORE_FILE, STORE_MAX, &text);
	if (r == -ENOENT) {
		o = json_object_new_object();
		json_object_object_add(o, "synced", json_object_new_int64(0));
		json_object_object_add(o, "apps", json_object_new_array());
		*ret = o;
		return 0;
	}
	if (r < 0)
		return r;
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "apps", &apps) ||
	    !json_object_is_type(apps, json_type_array)) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

static bool word_in(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " ");
		if (n == wl && strncmp(p, word, n) == 0)
			return true;
		p += n;
	}
	return false;
}

bool appmenu_shown(struct daemon *d, const struct vm *vm, const char *id)
{
	const char *items = qube_feature_get(vm->q, APPMENU_FEATURE);
	if (items)
		return word_in(items, id);
	const struct vm *t = vm->q->template ? daemon_find_vm(d, vm->q->template) : vm;
	return t && word_in(qube_feature_get(t->q, APPMENU_DEFAULT_FEATURE), id);
}
