/* The accelerator choice: see accel.h for why a /dev/kvm that opens is not enough. */
#include "accel.h"

#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

#define KVM_DEV		 "/dev/kvm"
#define QEMU_CONF	 "/etc/libvirt/qemu.conf"
#define QEMU_USER_DEF	 "libvirt-qemu" /* Debian's build of libvirt */
#define PROBE_KVM_MS	 15000		/* KVM reaches init in well under a second */
#define PROBE_TCG_MS	 120000		/* --check-accel --accel tcg, on a loaded machine */
#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))
#define PROBE_CACHE	 "accel-probe.json"
#define PROBE_CONSOLE	 "accel-probe.console"
#define PROBE_DOM_SUFFIX "_accel-probe" /* '_' first: no qube can have this name */
/* Our initramfs prints the first on bulkhead.probe; the kernel prints the second when it hands
 * over to init, which is the point nested KVM never reaches, even with an older initramfs. */
static const char *const probe_markers[] = {"bulkhead-probe: init reached",
					    "Run /init as init process"};

static const char *const mode_names[] = {
    [ACCEL_AUTO] = "auto",
    [ACCEL_KVM] = "kvm",
    [ACCEL_TCG] = "tcg",
};

int accel_mode_parse(const char *s, enum accel_mode *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (streq(s, mode_names[i])) {
			*ret = (enum accel_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *accel_mode_name(enum accel_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

const char *accel_describe(const struct accel_choice *a, char *buf, size_t size)
{
	if (a->kvm)
		snprintf(buf, size, "kvm (%s)", domain_cpu_name(a->cpu));
	else
		snprintf(buf, size, "tcg");
	return buf;
}

static void set_choice(struct accel_choice *a, bool kvm, enum domain_cpu cpu, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_choice(struct accel_choice *a, bool kvm, enum domain_cpu cpu, const char *fmt, ...)
{
	va_list ap;

	a->decided = true;
	a->kvm = kvm;
	a->cpu = cpu;
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
	va_end(ap);
}

/* The user libvirt runs QEMU as: qemu.conf's `user = "..."`, else Debian's default. NULL for a
 * session connection, where QEMU runs as we do. */
static char *qemu_user(const struct daemon *d)
{
	if (!strstr(d->libvirt_uri, "/system"))
		return NULL;
	_cleanup_fclose_ FILE *f = fopen(QEMU_CONF, "re");
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "user", 4) != 0)
			continue;
		p += 4;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		if (*p++ != '"')
			continue;
		char *end = strchr(p, '"');
		if (!end || end == p)
			continue;
		*end = '\0';
		/* "+0" style numeric ids are allowed by libvirt. */
		return xstrdup(p[0] == '+' ? p + 1 : p);
	}
	return xstrdup(QEMU_USER_DEF);
}

/* Whether `user` can open /dev/kvm read-write, tried for real in a child that takes the user's
 * uid and groups (mode bits, ACLs and group membership all count, as for QEMU). */
static int user_can_open_kvm(const char *user, char *why, size_t why_size)
{
	struct stat st;

	if (stat(KVM_DEV, &st) < 0) {
		snprintf(why, why_size,
			 "there is no " KVM_DEV " (no hardware virtualisation, or the kvm module "
			 "is not loaded)");
		return -ENOENT;
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	gid_t groups[256];
	int ngroups = 0;
	bool switch_user = false;

	if (user) {
		char *end;
		unsigned long n = strtoul(user, &end, 10);
		struct passwd *pw = *end ? getpwnam(user) : getpwuid((uid_t)n);
		if (!pw) {
			snprintf(why, why_size, "libvirt's QEMU user '%s' does not exist", user);
			return -ESRCH;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		ngroups = ARRAY_SIZE(groups);
		if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) < 0)
			ngroups = 0;
		switch_user = uid != geteuid();
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, why_size, "cannot fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		if (switch_user &&
		    (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
			_exit(125);
		int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
		_exit(fd < 0 ? (errno & 0x7f) : 0);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 125;
	snprintf(why, why_size,
		 "%s%s%s cannot open " KVM_DEV ": %s (it is mode %04o, owner %u:%u; udev normally "
		 "gives it to the kvm group, of which %s must be a member)",
		 user ? "libvirt's QEMU user '" : "QEMU", user ? user : "", user ? "'" : "",
		 code == 125 ? "cannot switch to that user" : strerror(code),
		 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
		 user ? user : "QEMU's user");
	return -EACCES;
}

static char *kernel_path(const struct daemon *d, const char *file)
{
	return xasprintf("%s/kernels/default/%s", d->state_dir, file);
}

static bool kernel_present(const struct daemon *d)
{
	_cleanup_free_ char *k = kernel_path(d, "vmlinuz");
	_cleanup_free_ char *i = kernel_path(d, "initramfs.img");
	return access(k, R_OK) == 0 && access(i, R_OK) == 0;
}

static const char *last_libvirt_error(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->message ? e->message : "unknown libvirt error";
}

static char *read_small_file(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 256 * 1024, len = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t n;
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	/* The console may hold NUL bytes; the markers are searched in what precedes them. */
	return buf;
}

/* The last non-empty console line, printable, for the reason of a failed probe. */
static void last_line(const char *text, char *out, size_t size)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	size_t j = 0;
	for (const char *p = start; p < end && j + 1 < size; p++)
		out[j++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[j] = '\0';
}

static long long probe_ms(const struct daemon *d, long long def)
{
	return d->probe_timeout_ms ? (long long)d->probe_timeout_ms : def;
}

static void destroy_by_name(struct daemon *d, const char *dname)
{
	virDomainPtr dom = virDomainLookupByName(d->conn, dname);
	if (dom) {
		virDomainDestroy(dom);
		virDomainFree(dom);
	}
	virResetLastError();
}

/* Boots the probe guest and waits for the marker. 0 and the time it took, or -errno and why. */
static int probe_boot(struct daemon *d, bool kvm, enum domain_cpu cpu, long long timeout_ms,
		      long long *ret_ms, char *why, size_t why_size)
{
	_cleanup_free_ char *dname = xasprintf("%s%s", d->domain_prefix, PROBE_DOM_SUFFIX);
	_cleanup_free_ char *kernel = kernel_path(d, "vmlinuz");
	_cleanup_free_ char *initrd = kernel_path(d, "initramfs.img");
	_cleanup_free_ char *console = xasprintf("%s/%s", d->state_dir, PROBE_CONSOLE);
	_cleanup_free_ char *xml = NULL;
	struct probe_domain_params p = {
	    .domain_name = dname,
	    .kvm = kvm,
	    .cpu = cpu,
	    .kernel = kernel,
	    .initrd = initrd,
	    /* No quiet: the kernel's own "Run /init" line is a marker too. */
	    .cmdline = "console=ttyS0 panic=-1 bulkhead.probe",
	    .console_log = console,
	};
	int r = domain_xml_probe(&p, &xml);
	if (r < 0) {
		snprintf(why, why_size, "cannot make the probe guest's XML: %s", strerror(-r));
		return r;
	}
	destroy_by_name(d, dname); /* a leftover of a crash during a probe */
	unlink(console);
	long long start = (long long)monotonic_ms();
	/* AUTODESTROY: if we die mid-probe, libvirt removes the guest with our connection. */
	virDomainPtr dom = virDomainCreateXML(d->conn, xml, VIR_DOMAIN_START_AUTODESTROY);
	if (!dom) {
		snprintf(why, why_size, "QEMU did not start: %s", last_libvirt_error());
		virResetLastError();
		return -EIO;
	}
	r = -ETIMEDOUT;
	for (;;) {
		_cleanup_free_ char *text = read_small_file(console);
		for (size_t i = 0; text && i < ARRAY_SIZE(probe_markers); i++)
			if (strstr(text, probe_markers[i])) {
				r = 0;
				break;
			}
		if (r == 0)
			break;
		int active = virDomainIsActive(dom);
		if (active != 1) {
			char line[160] = "";
			last_line(text ? text : "", line, sizeof(line));
			snprintf(why, why_size,
				 "the probe guest stopped before it reached init; its last console "
				 "line: '%s'",
				 line);
			r = -EIO;
			break;
		}
		if ((long long)monotonic_ms() - start > timeout_ms) {
			char line[160] = "";
			last_line(text ? text : "", line, sizeof(line));
			snprintf(why, why_size,
				 "the probe guest did not reach init within %.1f s (it hangs); its "
				 "last console line: '%s'",
				 (double)timeout_ms / 1000, line);
			break;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	*ret_ms = (long long)monotonic_ms() - start;
	if (virDomainIsActive(dom) == 1)
		virDomainDestroy(dom);
	virDomainFree(dom);
	virResetLastError();
	unlink(console);
	return r;
}

/* What a cached probe result is valid for: this boot of the host, this kernel and initramfs,
 * this QEMU and this /dev/kvm. */
static char *probe_key(const struct daemon *d)
{
	_cleanup_free_ char *boot = read_small_file("/proc/sys/kernel/random/boot_id");
	_cleanup_free_ char *k = kernel_path(d, "vmlinuz");
	_cleanup_free_ char *i = kernel_path(d, "initramfs.img");
	struct stat sk = {0}, si = {0}, sq = {0}, sd = {0};

	if (!boot || stat(k, &sk) < 0 || stat(i, &si) < 0 || stat(DOMAIN_EMULATOR, &sq) < 0 ||
	    stat(KVM_DEV, &sd) < 0)
		return NULL;
	boot[strcspn(boot, "\n")] = '\0';
	return xasprintf("%s k%lld.%ld i%lld.%ld q%lld.%ld d%o.%u.%u", boot, (long long)sk.st_size,
			 (long)sk.st_mtime, (long long)si.st_size, (long)si.st_mtime,
			 (long long)sq.st_size, (long)sq.st_mtime, (unsigned)sd.st_mode,
			 (unsigned)sd.st_uid, (unsigned)sd.st_gid);
}

static bool cache_load(struct daemon *d, const char *key)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", d->state_dir, PROBE_CACHE);
	_cleanup_free_ char *text = read_small_file(path);
	if (!text)
		return false;
	struct json_object *o = json_tokener_parse(text), *v;
	bool ok = false;
	if (o && json_object_object_get_ex(o, "key", &v) &&
	    json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), key)) {
		const char *cpu =
		    json_object_object_get_ex(o, "cpu", &v) ? json_object_get_string(v) : NULL;
		const char *reason =
		    json_object_object_get_ex(o, "reason", &v) ? json_object_get_string(v) : "";
		bool kvm = json_object_object_get_ex(o, "kvm", &v) && json_object_get_boolean(v);
		for (int c = 0; kvm && cpu && c < _DOMAIN_CPU_MAX; c++)
			if (streq(cpu, domain_cpu_name((enum domain_cpu)c))) {
				set_choice(&d->accel, true, (enum domain_cpu)c,
					   "%s (probed earlier "
					   "in this boot)",
					   reason);
				ok = true;
			}
		if (!kvm) {
			set_choice(&d->accel, false, 0, "%s (probed earlier in this boot)", reason);
			ok = true;
		}
	}
	json_object_put(o);
	return ok;
}

static void cache_save(struct daemon *d, const char *key)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", d->state_dir, PROBE_CACHE);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "kvm", json_object_new_boolean(d->accel.kvm));
	json_object_object_add(o, "cpu", json_object_new_string(domain_cpu_name(d->accel.cpu)));
	json_object_object_add(o, "reason", json_object_new_string(d->accel.reason));
	/* A cache: a torn write only means probing again, but rename keeps it whole anyway. */
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PLAIN) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
	json_object_put(o);
}

/* The probe proper, for auto: KVM with each CPU model in turn, then TCG. */
static void probe_auto(struct daemon *d)
{
	char why[_DOMAIN_CPU_MAX][400];
	long long ms;

	for (int c = 0; c < _DOMAIN_CPU_MAX; c++) {
		log_info("accelerator probe: booting the probe guest under KVM with CPU %s",
			 domain_cpu_name((enum domain_cpu)c));
		if (probe_boot(d, true, (enum domain_cpu)c, probe_ms(d, PROBE_KVM_MS), &ms, why[c],
			       sizeof(why[c])) == 0) {
			set_choice(
			    &d->accel, true, (enum domain_cpu)c,
			    "the probe guest reached init under KVM with CPU %s in %lld ms%s",
			    domain_cpu_name((enum domain_cpu)c), ms,
			    c ? " (host-passthrough did not work)" : "");
			return;
		}
		log_warn("accelerator probe: KVM with CPU %s: %s",
			 domain_cpu_name((enum domain_cpu)c), why[c]);
	}
	set_choice(&d->accel, false, 0,
		   "KVM is present but unusable: with CPU host-passthrough %s; with host-model "
		   "%s; with qemu64 %s",
		   why[0], why[1], why[2]);
}

static void report(const struct daemon *d)
{
	char desc[64];
	accel_describe(&d->accel, desc, sizeof(desc));
	if (d->accel.kvm)
		log_info("accelerator: %s: %s", desc, d->accel.reason);
	else
		log_warn("accelerator: tcg, which is much slower: %s", d->accel.reason);
}

void accel_ensure(struct daemon *d)
{
	if (d->accel.decided || !kernel_present(d))
		return;
	_cleanup_free_ char *key = probe_key(d);
	if (!key || !cache_load(d, key)) {
		probe_auto(d);
		if (key)
			cache_save(d, key);
	}
	report(d);
}

int accel_init(struct daemon *d)
{
	_cleanup_free_ char *user = qemu_user(d);
	char why[400];

	switch (d->accel_mode) {
	case ACCEL_TCG:
		set_choice(&d->accel, false, 0, "--accel tcg was given");
		report(d);
		return 0;
	case ACCEL_KVM:
		if (user_can_open_kvm(user, why, sizeof(why)) < 0) {
			log_error("--accel kvm: %s; use --accel auto or tcg", why);
			return -EACCES;
		}
		set_choice(&d->accel, true, DOMAIN_CPU_HOST_PASSTHROUGH,
			   "--accel kvm was given (not probed)");
		report(d);
		return 0;
	case ACCEL_AUTO:
		if (user_can_open_kvm(user, why, sizeof(why)) < 0) {
			set_choice(&d->accel, false, 0, "%s", why);
			report(d);
			return 0;
		}
		/* Until the probe can run, qubes would get KVM; the first start probes. */
		d->accel.decided = false;
		d->accel.kvm = true;
		d->accel.cpu = DOMAIN_CPU_HOST_PASSTHROUGH;
		snprintf(d->accel.reason, sizeof(d->accel.reason),
			 "not probed yet: the probe boots the qube kernel at the first start");
		accel_ensure(d);
		return 0;
	}
	return -EINVAL;
}

int accel_check(struct daemon *d)
{
	_cleanup_free_ char *user = qemu_user(d);
	char why[400], desc[64];
	long long ms;
	int r = 0;

	if (d->accel_mode != ACCEL_TCG && user_can_open_kvm(user, why, sizeof(why)) < 0) {
		if (d->accel_mode == ACCEL_KVM) {
			printf("kvm: unusable: %s\n", why);
			return -EACCES;
		}
		set_choice(&d->accel, false, 0, "%s", why);
	} else if (!kernel_present(d)) {
		printf("cannot probe: the qube kernel is not installed in %s/kernels/default "
		       "(bulkhead template build minimal fetches it)\n",
		       d->state_dir);
		return -ENOENT;
	} else if (d->accel_mode == ACCEL_AUTO) {
		probe_auto(d);
	} else {
		bool kvm = d->accel_mode == ACCEL_KVM;
		r = probe_boot(d, kvm, DOMAIN_CPU_HOST_PASSTHROUGH,
			       probe_ms(d, kvm ? PROBE_KVM_MS : PROBE_TCG_MS), &ms, why,
			       sizeof(why));
		if (r < 0) {
			printf("%s: the probe guest failed: %s\n", kvm ? "kvm" : "tcg", why);
			return r;
		}
		set_choice(&d->accel, kvm, DOMAIN_CPU_HOST_PASSTHROUGH,
			   "the probe guest reached init under %s in %lld ms",
			   kvm ? "KVM with CPU host-passthrough" : "TCG", ms);
	}
	printf("%s: %s\n", accel_describe(&d->accel, desc, sizeof(desc)), d->accel.reason);
	return 0;
}
