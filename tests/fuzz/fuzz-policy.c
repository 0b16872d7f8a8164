/* Fuzz target for the policy parser: arbitrary bytes as a policy file. What loads is evaluated
 * for a few calls against a fixed system info; every decision must be well formed (an allow has
 * a target, an ask offers at least one, a deny says why). Errors must name a line of the input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "policy.h"

static const char *const tags[] = {"work", "dvm"};
static const struct policy_domain domains[] = {
    {.name = "dom0",
     .type = "AdminVM",
     .tags = tags,
     .n_tags = 1,
     .power_state = "Running",
     .uuid = "00000000-0000-0000-0000-000000000000"},
    {.name = "work",
     .type = "AppVM",
     .tags = tags,
     .n_tags = 1,
     .default_dispvm = "dvm",
     .power_state = "Running",
     .uuid = "c9024a97-9b15-46cc-8341-38d75d5d421b"},
    {.name = "dvm",
     .type = "AppVM",
     .tags = tags + 1,
     .n_tags = 1,
     .template_for_dispvms = true,
     .power_state = "Halted",
     .uuid = "f3e538bd-4427-4697-bed7-45ef3270df21"},
    {.name = "tpl", .type = "TemplateVM", .power_state = "Halted"},
    {.name = "sys", .type = "AppVM", .template_for_dispvms = true, .internal = true},
};
static const struct policy_sysinfo si = {domains, sizeof(domains) / sizeof(domains[0])};

static const char *const calls[][3] = {
    {"svc", "work", "dvm"},
    {"svc+arg", "work", "@dispvm"},
    {"a.b+c", "tpl", ""},
    {"svc", "work", "dom0"},
    {"x", "dvm", "@dispvm:dvm"},
    {"svc+", "work", "@default"},
    {"qubes.Filecopy", "work", "tpl"},
    {"svc", "uuid:c9024a97-9b15-46cc-8341-38d75d5d421b", "nosuch"},
    {"svc", "dom0", "uuid:00000000-0000-0000-0000-000000000000"},
    {"svc", "tpl", "@dispvm:uuid:f3e538bd-4427-4697-bed7-45ef3270df21"},
    {"svc", "work", "*"},
    {"svc", "work", "@adminvm"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct policy *p = NULL;
	struct policy_error *errs = NULL;
	size_t n_errs = 0, lines = 1;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n' || data[i] == '\r';

	int r = policy_load_string("fuzz.policy", text, &p, &errs, &n_errs);
	if (r < 0) {
		if (r != -EINVAL || n_errs == 0 || p)
			abort();
		for (size_t i = 0; i < n_errs; i++)
			if (errs[i].line > lines || !errs[i].message || !errs[i].file)
				abort();
		policy_errors_free(errs, n_errs);
	} else {
		if (n_errs != 0 || !p)
			abort();
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			struct policy_result res;
			if (policy_evaluate(p, &si, calls[i][0], calls[i][1], calls[i][2], &res) <
			    0)
				abort();
			if ((res.action == POLICY_ALLOW && !res.target) ||
			    (res.action == POLICY_ASK && res.n_targets == 0) ||
			    (res.action == POLICY_DENY && !res.reason))
				abort();
			json_object_put(policy_result_to_json(&res));
			policy_result_finish(&res);
		}
		policy_free(p);
	}
	/* The name check reads the same bytes as a called name. */
	policy_check_service_name(text, NULL);
	free(text);
	return 0;
}
