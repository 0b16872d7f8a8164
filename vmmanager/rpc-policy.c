#include "rpc-policy.h"

#include <dirent.h>
#include <sys/stat.h>

#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "qube.h"
#include "util.h"

/* Services only the host uses. Their policy lines answer the host's own questions (the
 * default `bulkhead.ClipboardPaste ... @anyvm @anyvm allow` says which qubes may paste into
 * which, for the compositor): a qube calling one would reach, and autostart, any qube. The admin
 * calls turn the API connection into a stream, drive the host's prompt or take its windows. */
static const struct {
	const char *name;
	bool prefix; /* every service whose name starts with it */
} host_only_services[] = {
    {"bulkhead.ClipboardPaste", false},
    {"bulkhead.AudioInput", false}, /* the microphone grant (api-audio.c) */
    {"admin.vm.Run", false},
    {"admin.Events", false},
    {"admin.template.Build", false},
    {"admin.policy.", true},
    {"admin.vm.firewall.", true},
    {"admin.gui.", true},
};

bool rpc_service_host_only(const char *service_arg)
{
	const char *plus = strchr(service_arg, '+');
	size_t len = plus ? (size_t)(plus - service_arg) : strlen(service_arg);

	for (size_t i = 0; i < ARRAY_SIZE(host_only_services); i++) {
		const char *n = host_only_services[i].name;
		size_t nl = strlen(n);
		if (host_only_services[i].prefix ? len >= nl && strncmp(service_arg, n, nl) == 0
						 : len == nl && strncmp(service_arg, n, nl) == 0)
			return true;
	}
	return false;
}

/* The parsed policy, kept until a file in the directory changes. */
struct policy_cache {
	char *signature;
	struct policy *policy; /* NULL when it failed to load: every call is denied */
	char *error;	       /* the first error, for the deny reason */
};

/* Names, sizes and change times of the policy files: enough to notice an edit. */
static char *dir_signature(const char *dir)
{
	DIR *dp = opendir(dir);
	char *sig = xstrdup("");
	struct dirent *de;

	if (!dp)
		return sig;
	while ((de = readdir(dp))) {
		struct stat st;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0) {
			char *n =
			    xasprintf("%s%s:%lld:%lld.%ld;", sig, de->d_name, (long long)st.st_size,
				      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
			free(sig);
			sig = n;
		}
		free(path);
	}
	closedir(dp);
	return sig;
}

void rpc_policy_cache_free(struct daemon *d)
{
	struct policy_cache *pc = d->policy;
	if (!pc)
		return;
	policy_free(pc->policy);
	free(pc->signature);
	free(pc->error);
	free(pc);
	d->policy = NULL;
}

static struct policy_cache *current_policy(struct daemon *d)
{
	_cleanup_free_ char *sig = dir_signature(d->policy_dir);
	if (d->policy && streq(d->policy->signature, sig))
		return d->policy;

	rpc_policy_cache_free(d);
	struct policy_cache *pc = xcalloc(1, sizeof(*pc));
	struct policy_error *errs = NULL;
	size_t n_errs = 0;
	pc->signature = TAKE_PTR(sig);
	if (policy_load_dir(d->policy_dir, &pc->policy, &errs, &n_errs) < 0) {
		pc->policy = NULL;
		pc->error =
		    n_errs > 0 ? xasprintf("%s:%u: %s", errs[0].file, errs[0].line, errs[0].message)
			       : xasprintf("cannot read %s", d->policy_dir);
		log_error("policy: %s; every call is denied until it is fixed", pc->error);
		for (size_t i = 1; i < n_errs; i++)
			log_error("policy: %s:%u: %s", errs[i].file, errs[i].line, errs[i].message);
	}
	policy_errors_free(errs, n_errs);
	d->policy = pc;
	return pc;
}

/* The live qubes, as the policy sees them (Qubes' system info). */
struct sysinfo_storage {
	struct policy_domain *domains;
	size_t n;
};

static void build_sysinfo(struct daemon *d, struct sysinfo_storage *st)
{
	st->domains = xcalloc(d->n_vms + 1, sizeof(*st->domains));
	st->n = 0;
	st->domains[st->n++] = (struct policy_domain){
	    .name = "dom0",
	    .type = "AdminVM",
	    .power_state = "Running",
	    .uuid = "00000000-0000-0000-0000-000000000000", /* as in Qubes */
	};
	for (size_t i = 0; i < d->n_vms; i++) {
		const struct qube *q = d->vms[i]->q;
		const char *internal = qube_feature_get(q, "internal");
		st->domains[st->n++] = (struct policy_domain){
		    .name = q->name,
		    .type = qube_class_to_string(q->klass),
		    .tags = (const char *const *)q->tags,
		    .n_tags = q->n_tags,
		    .default_dispvm = q->default_dispvm,
		    .template_for_dispvms = q->template_for_dispvms,
		    .power_state = vm_state_name(d->vms[i]->state),
		    .uuid = q->uuid,
		    /* Qubes' GetSystemInfo: the "internal" feature, any non-empty value */
		    .internal = internal && *internal,
		};
	}
}

int rpc_policy_decide(struct daemon *d, const char *source, const char *target,
		      const char *service_arg, struct rpc_policy_decision *ret, char *reason,
		      size_t reason_size)
{
	struct policy_result res = {0};
	const char *why = NULL;

	*ret = (struct rpc_policy_decision){.action = RPC_DENY};
	/* Names are checked before the policy sees them. */
	if (policy_check_service_name(service_arg, &why) < 0) {
		snprintf(reason, reason_size, "invalid service name: %s", why ? why : "?");
		return 0;
	}
	const char *plus = strchr(service_arg, '+');
	_cleanup_free_ char *service =
	    plus ? strndup(service_arg, (size_t)(plus - service_arg)) : xstrdup(service_arg);
	const char *arg = plus ? plus + 1 : "";

	struct policy_cache *pc = current_policy(d);
	if (!pc->policy) {
		snprintf(reason, reason_size, "the policy does not load (%s)", pc->error);
		return 0;
	}
	struct sysinfo_storage st;
	build_sysinfo(d, &st);
	struct policy_sysinfo si = {.domains = st.domains, .n_domains = st.n};
	int r = policy_evaluate(pc->policy, &si, service_arg, source, target, &res);
	free(st.domains);
	if (r < 0) {
		snprintf(reason, reason_size, "the policy cannot decide: %s", strerror(-r));
		return 0;
	}
	switch (res.action) {
	case POLICY_ALLOW:
		ret->action = RPC_ALLOW;
		ret->service = TAKE_PTR(service);
		ret->arg = xstrdup(arg);
		ret->target = xstrdup(res.target);
		ret->user = res.user ? xstrdup(res.user) : NULL;
		ret->rule = res.rule ? xstrdup(res.rule) : NULL;
		ret->autostart = res.autostart;
		snprintf(reason, reason_size, "allowed by %s", res.rule ? res.rule : "?");
		break;
	case POLICY_ASK:
		/* The trusted prompt on the host decides; see rpc.c. */
		ret->action = RPC_ASK;
		ret->service = TAKE_PTR(service);
		ret->arg = xstrdup(arg);
		ret->user = res.user ? xstrdup(res.user) : NULL;
		ret->rule = res.rule ? xstrdup(res.rule) : NULL;
		ret->autostart = res.autostart;
		ret->targets = xcalloc(res.n_targets + 1, sizeof(char *));
		for (size_t i = 0; i < res.n_targets; i++)
			ret->targets[i] = xstrdup(res.targets[i]);
		ret->n_targets = res.n_targets;
		ret->default_target = res.default_target ? xstrdup(res.default_target) : NULL;
		snprintf(reason, reason_size, "'ask' at %s", res.rule ? res.rule : "?");
		break;
	default:
		/* The library's reason names the deciding line when there is one. */
		ret->rule = res.rule ? xstrdup(res.rule) : NULL;
		snprintf(reason, reason_size, "%s", res.reason ? res.reason : "denied");
		break;
	}
	policy_result_finish(&res);
	return 0;
}

void rpc_policy_decision_finish(struct rpc_policy_decision *dec)
{
	free(dec->service);
	free(dec->arg);
	free(dec->target);
	free(dec->user);
	free(dec->rule);
	for (size_t i = 0; i < dec->n_targets; i++)
		free(dec->targets[i]);
	free(dec->targets);
	free(dec->default_target);
	*dec = (struct rpc_policy_decision){0};
}
