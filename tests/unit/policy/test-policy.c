/* Unit tests of policy/: the golden syntax errors, evaluation of every token, action and
 * parameter, the directives and file-name rules on real directories, and failing closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "policy.h"
#include "util.h"

static const char *golden_dir;

/* dom0, and qubes of every type; "default-dvm" is a disposable template; "hidden" is an
 * internal one (never offered by a prompt). */
static const char *const dom0_tags[] = {"dom0-tag"};
static const char *const work_tags[] = {"work", "trusted"};
static const char *const untrusted_tags[] = {"bad"};
static const char *const dvm_tags[] = {"dvm-tag"};
#define UUID_DOM0   "00000000-0000-0000-0000-000000000000"
#define UUID_WORK   "c9024a97-9b15-46cc-8341-38d75d5d421b"
#define UUID_SA	    "6d7a02b5-532b-467f-b9fb-6596bae03c33"
#define UUID_DVM    "f3e538bd-4427-4697-bed7-45ef3270df21"
#define UUID_NOSUCH "d8a249f1-b02b-4944-a9e5-437def2fbe2c"
static const struct policy_domain domains[] = {
    {.name = "dom0",
     .type = "AdminVM",
     .tags = dom0_tags,
     .n_tags = 1,
     .power_state = "Running",
     .uuid = UUID_DOM0},
    {.name = "work",
     .type = "AppVM",
     .tags = work_tags,
     .n_tags = 2,
     .default_dispvm = "default-dvm",
     .power_state = "Running",
     .uuid = UUID_WORK},
    {.name = "personal", .type = "AppVM", .power_state = "Halted"},
    {.name = "untrusted",
     .type = "AppVM",
     .tags = untrusted_tags,
     .n_tags = 1,
     .default_dispvm = "plain",
     .power_state = "Halted"},
    {.name = "default-dvm",
     .type = "AppVM",
     .tags = dvm_tags,
     .n_tags = 1,
     .template_for_dispvms = true,
     .power_state = "Halted",
     .uuid = UUID_DVM},
    {.name = "plain", .type = "AppVM", .power_state = "Halted"},
    {.name = "fedora", .type = "TemplateVM", .power_state = "Halted"},
    {.name = "disp42", .type = "DispVM", .power_state = "Running"},
    {.name = "sa", .type = "StandaloneVM", .power_state = "Running", .uuid = UUID_SA},
    {.name = "hidden",
     .type = "AppVM",
     .template_for_dispvms = true,
     .power_state = "Running",
     .internal = true},
};
static const struct policy_sysinfo si = {domains, ARRAY_SIZE(domains)};

static struct policy *load(const char *text)
{
	struct policy *p = NULL;
	struct policy_error *errs = NULL;
	size_t n = 0;
	int r = policy_load_string("test.policy", text, &p, &errs, &n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s:%u: %s\n", errs[i].file, errs[i].line, errs[i].message);
	assert_int_equal(r, 0);
	assert_int_equal(n, 0);
	policy_errors_free(errs, n);
	return p;
}

/* Evaluates and returns the result as the CLI prints it. */
static char *eval_json(const char *text, const char *service, const char *source,
		       const char *target)
{
	struct policy *p = load(text);
	struct policy_result res;
	assert_int_equal(policy_evaluate(p, &si, service, source, target, &res), 0);
	struct json_object *o = policy_result_to_json(&res);
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	policy_result_finish(&res);
	policy_free(p);
	return s;
}

#define assert_eval(text, service, source, target, expected)                                       \
	do {                                                                                       \
		_cleanup_free_ char *_got = eval_json(text, service, source, target);              \
		assert_string_equal(_got, expected);                                               \
	} while (0)

/* Just the action and the target (or the reason for a deny). */
static char *eval_short(const char *text, const char *service, const char *source,
			const char *target)
{
	struct policy *p = load(text);
	struct policy_result res;
	char *s;
	assert_int_equal(policy_evaluate(p, &si, service, source, target, &res), 0);
	if (res.action == POLICY_ALLOW)
		s = xasprintf("allow %s", res.target);
	else if (res.action == POLICY_ASK)
		s = xasprintf("ask %zu", res.n_targets);
	else
		s = xasprintf("deny %s", res.reason);
	policy_result_finish(&res);
	policy_free(p);
	return s;
}

#define assert_short(text, service, source, target, expected)                                      \
	do {                                                                                       \
		_cleanup_free_ char *_got = eval_short(text, service, source, target);             \
		assert_string_equal(_got, expected);                                               \
	} while (0)

static void test_golden_errors(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/errors.txt", golden_dir);
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned cases = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		char *sep = strstr(line, " => ");
		assert_non_null(sep);
		*sep = '\0';
		const char *expected = sep + 4;
		struct policy *p = (struct policy *)0x1;
		struct policy_error *errs = NULL;
		size_t n = 0;
		int r = policy_load_string("test.policy", line, &p, &errs, &n);
		if (r != -EINVAL || n != 1 || !streq(errs[0].message, expected))
			fail_msg("input: %s\nexpected: %s\ngot (%d, %zu): %s", line, expected, r, n,
				 n ? errs[0].message : "(none)");
		assert_ptr_equal(p, (struct policy *)0x1); /* untouched on failure */
		assert_string_equal(errs[0].file, "test.policy");
		assert_int_equal(errs[0].line, 1);
		policy_errors_free(errs, n);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 30);
}

static void test_all_errors_listed(void **state)
{
	struct policy *p = NULL;
	struct policy_error *errs = NULL;
	size_t n = 0;
	assert_int_equal(policy_load_string("x.policy",
					    "# fine\n"
					    "a * @anyvm @anyvm allow\n"
					    "b * @anyvm\n"
					    "\n"
					    "c * @anyvm @anyvm nope\r\n"
					    "d * @anyvm @anyvm deny\r"
					    "e * @bad @anyvm deny\n",
					    &p, &errs, &n),
			 -EINVAL);
	assert_null(p);
	assert_int_equal(n, 3);
	assert_int_equal(errs[0].line, 3);
	assert_int_equal(errs[1].line, 5);
	assert_string_equal(errs[1].message, "invalid action: nope");
	/* a lone CR ends a line too, as in Python */
	assert_int_equal(errs[2].line, 7);
	policy_errors_free(errs, n);
}

static void test_first_match_and_no_match(void **state)
{
	const char *pol = "svc * work personal deny\n"
			  "svc * work @anyvm allow\n"
			  "svc * @anyvm @anyvm deny notify=no\n";
	assert_eval(pol, "svc", "work", "personal",
		    "{\"action\":\"deny\",\"rule\":\"test.policy:1\","
		    "\"reason\":\"denied by policy test.policy:1\"}");
	assert_eval(pol, "svc", "work", "sa",
		    "{\"action\":\"allow\",\"target\":\"sa\",\"user\":null,\"autostart\":true,"
		    "\"notify\":false,\"rule\":\"test.policy:2\"}");
	assert_short(pol, "svc", "personal", "sa", "deny denied by policy test.policy:3");
	assert_eval(pol, "other", "work", "sa",
		    "{\"action\":\"deny\",\"rule\":null,\"reason\":\"no matching rule found\"}");
	/* notify: deny defaults to yes, allow to no; notify= changes it */
	struct policy *p = load(pol);
	struct policy_result res;
	assert_int_equal(policy_evaluate(p, &si, "svc", "work", "personal", &res), 0);
	assert_true(res.notify);
	policy_result_finish(&res);
	assert_int_equal(policy_evaluate(p, &si, "svc", "personal", "sa", &res), 0);
	assert_false(res.notify);
	policy_result_finish(&res);
	policy_free(p);
}

static void test_service_and_argument(void **state)
{
	const char *pol = "svc +one work sa allow\n"
			  "svc + work sa ask\n"
			  "svc * work sa deny\n"
			  "* * personal sa allow\n";
	assert_short(pol, "svc+one", "work", "sa", "allow sa");
	assert_short(pol, "svc", "work", "sa", "ask 1");  /* no argument is the empty one */
	assert_short(pol, "svc+", "work", "sa", "ask 1"); /* so is a bare + */
	assert_short(pol, "svc+two", "work", "sa", "deny denied by policy test.policy:3");
	assert_short(pol, "svc+one+x", "work", "sa", "deny denied by policy test.policy:3");
	assert_short(pol, "anything+at.all", "personal", "sa", "allow sa");
	assert_short(pol, "svc.other", "work", "sa", "deny no matching rule found");
	/* the name check runs first */
	assert_short(pol, "svc+a/b", "personal", "sa",
		     "deny invalid service name: forbidden character in argument");
}

static void test_dom0_and_anyvm(void **state)
{
	const char *pol = "svc * @anyvm @anyvm allow\n";
	/* @anyvm never matches the admin domain, neither as source nor as target */
	assert_short(pol, "svc", "work", "dom0", "deny no matching rule found");
	assert_short(pol, "svc", "work", "@adminvm", "deny no matching rule found");
	assert_short(pol, "svc", "dom0", "work", "deny no matching rule found");
	assert_short(pol, "svc", "work", "sa", "allow sa");
	/* dom0 and @adminvm are one token, in every column */
	const char *adm = "svc * work dom0 allow\n"
			  "get * @anyvm @adminvm allow user=root\n"
			  "src * dom0 @anyvm allow\n";
	assert_short(adm, "svc", "work", "@adminvm", "allow dom0");
	assert_short(adm, "svc", "work", "dom0", "allow dom0");
	assert_short(adm, "get", "personal", "dom0", "allow dom0");
	assert_short(adm, "src", "dom0", "work", "allow work");
	assert_eval(
	    adm, "get", "sa", "dom0",
	    "{\"action\":\"allow\",\"target\":\"dom0\",\"user\":\"root\",\"autostart\":true,"
	    "\"notify\":false,\"rule\":\"test.policy:2\"}");
}

static void test_type_and_tag(void **state)
{
	const char *pol = "svc * @type:TemplateVM @anyvm deny\n"
			  "svc * @tag:work @type:StandaloneVM allow\n"
			  "svc * @tag:work @tag:bad deny\n"
			  "svc * @type:AppVM @type:AppVM ask\n"
			  "svc * @anyvm @type:DispVM allow\n"
			  "svc * @type:AdminVM @anyvm allow\n";
	assert_short(pol, "svc", "fedora", "work", "deny denied by policy test.policy:1");
	assert_short(pol, "svc", "work", "sa", "allow sa");
	assert_short(pol, "svc", "work", "untrusted", "deny denied by policy test.policy:3");
	assert_short(pol, "svc", "personal", "sa", "deny no matching rule found");
	assert_short(pol, "svc", "sa", "disp42", "allow disp42");
	/* personal itself is not offered; disp42 comes from the next line */
	assert_short(pol, "svc", "personal", "work", "ask 5");
	/* dom0 is an AdminVM as a source */
	assert_short(pol, "svc", "dom0", "work", "allow work");
	/* a type or tag no qube has matches nothing */
	assert_short("svc * @type:Nope @anyvm allow\nsvc * @tag:none @anyvm allow\n", "svc", "work",
		     "sa", "deny no matching rule found");
}

static void test_unknown_names(void **state)
{
	const char *pol = "svc * @anyvm @anyvm allow\n";
	/* Qubes: a target that names no qube is a call to @default */
	assert_short(pol, "svc", "work", "nosuch",
		     "deny policy define 'allow' action at test.policy:1 but no target is "
		     "specified by caller or policy");
	assert_short(pol, "svc", "work", "uuid:" UUID_NOSUCH,
		     "deny policy define 'allow' action at test.policy:1 but no target is "
		     "specified by caller or policy");
	/* so a redirecting rule still applies, and @default rules match it */
	assert_short("* * @anyvm @anyvm allow target=sa\n", "svc", "work", "nosuch", "allow sa");
	assert_short("svc * work @default allow target=personal\nsvc * work @anyvm deny\n", "svc",
		     "work", "nosuch", "allow personal");
	assert_short("svc * work nosuch allow\nsvc * work @anyvm deny\n", "svc", "work", "nosuch",
		     "deny denied by policy test.policy:2");
	/* tokens a caller may not send are refused */
	assert_short(pol, "svc", "work", "@anyvm", "deny invalid target: @anyvm");
	assert_short(pol, "svc", "work", "@tag:work", "deny invalid target: @tag:work");
	assert_short(pol, "svc", "work", "*", "deny invalid target: *");
	assert_short(pol, "svc", "work", "@dispvm:@tag:x", "deny invalid target: @dispvm:@tag:x");
	/* an unknown source stays a refusal (Qubes trusts its caller there) */
	assert_short(pol, "svc", "nosuch", "work", "deny unknown source: nosuch");
	assert_short(pol, "svc", "uuid:" UUID_NOSUCH, "work",
		     "deny unknown source: uuid:" UUID_NOSUCH);
	/* a call to the caller itself is refused, as Qubes does */
	assert_short(pol, "svc", "work", "work", "deny loopback qrexec connection not supported");
}

static void test_wildcard(void **state)
{
	/* a bare * matches every source and every target, dom0 included */
	const char *pol = "svc * * * allow\n";
	assert_short(pol, "svc", "work", "sa", "allow sa");
	assert_short(pol, "svc", "dom0", "work", "allow work");
	assert_short(pol, "svc", "work", "dom0", "allow dom0");
	assert_short(pol, "svc", "work", "@adminvm", "allow dom0");
	assert_short(pol, "svc", "work", "@dispvm", "allow @dispvm:default-dvm");
	assert_short(pol, "svc", "work", "@dispvm:default-dvm", "allow @dispvm:default-dvm");
	assert_short("svc * * @default allow target=sa\n", "svc", "dom0", "", "allow sa");
	/* as a target it matches @default too (then allow has no target) */
	assert_short(pol, "svc", "work", "",
		     "deny policy define 'allow' action at test.policy:1 but no target is "
		     "specified by caller or policy");
	/* an ask offers every qube, dom0 and the disposables too (not the caller, nor the
	 * internal qube) */
	assert_eval("svc * work * ask\n", "svc", "work", "",
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"default-dvm\","
		    "\"disp42\",\"dom0\",\"fedora\",\"personal\",\"plain\",\"sa\","
		    "\"untrusted\"],\"default_target\":null,\"rule\":\"test.policy:1\"}");
	/* and a deny with * takes everything away */
	assert_short("svc * work * deny\nsvc * work @anyvm ask\n", "svc", "work", "sa",
		     "deny denied by policy test.policy:1");
	assert_eval("svc * work sa ask\nsvc * work * deny\nsvc * work @anyvm allow\n", "svc",
		    "work", "sa",
		    "{\"action\":\"ask\",\"targets\":[\"sa\"],\"default_target\":null,"
		    "\"rule\":\"test.policy:1\"}");
	/* it is not a qube name: a qube cannot be called "*" */
	assert_short("svc * work * allow\n", "svc", "work", "*", "deny invalid target: *");
}

static void test_dom0_tag_and_type(void **state)
{
	/* @tag: and @type: in the target column match a call to dom0 (named dom0 or by its
	 * uuid), as in Qubes; a call to @adminvm is not looked up in the system info */
	const char *pol = "svc * @anyvm @tag:dom0-tag allow\n"
			  "typ * @anyvm @type:AdminVM allow\n"
			  "neg * @anyvm @tag:work allow\n";
	assert_short(pol, "svc", "work", "dom0", "allow dom0");
	assert_short(pol, "svc", "work", "uuid:" UUID_DOM0, "allow dom0");
	assert_short(pol, "svc", "work", "@adminvm", "deny no matching rule found");
	assert_short(pol, "typ", "work", "dom0", "allow dom0");
	assert_short(pol, "typ", "work", "@adminvm", "deny no matching rule found");
	assert_short(pol, "typ", "work", "sa", "deny no matching rule found");
	assert_short(pol, "neg", "sa", "dom0", "deny no matching rule found");
	assert_short(pol, "neg", "sa", "work", "allow work");
}

static void test_uuid(void **state)
{
	/* uuid:UUID in the source and target columns: the qube with that uuid, whichever way
	 * the call names it */
	const char *pol = "svc * uuid:" UUID_WORK " uuid:" UUID_SA " allow\n"
			  "svc * work uuid:" UUID_DOM0 " allow\n"
			  "red * @anyvm @anyvm allow target=uuid:" UUID_SA "\n"
			  "red0 * @anyvm @anyvm allow target=uuid:" UUID_DOM0 "\n"
			  "redd * @anyvm @anyvm allow target=@dispvm:uuid:" UUID_DVM "\n"
			  "gone * @anyvm @anyvm allow target=uuid:" UUID_NOSUCH "\n"
			  "dvm * @anyvm @dispvm:uuid:" UUID_DVM " allow\n"
			  "ask * @anyvm @anyvm ask default_target=uuid:" UUID_SA "\n"
			  "askr * @anyvm @anyvm ask target=uuid:" UUID_SA "\n";
	assert_short(pol, "svc", "work", "sa", "allow sa");
	assert_short(pol, "svc", "uuid:" UUID_WORK, "sa", "allow sa");
	assert_short(pol, "svc", "work", "uuid:" UUID_SA, "allow sa");
	assert_short(pol, "svc", "uuid:" UUID_WORK, "uuid:" UUID_SA, "allow sa");
	assert_short(pol, "svc", "personal", "sa", "deny no matching rule found");
	assert_short(pol, "svc", "work", "personal", "deny no matching rule found");
	/* dom0's uuid is dom0, in a rule and in a call */
	assert_short(pol, "svc", "work", "dom0", "allow dom0");
	assert_short(pol, "svc", "work", "@adminvm", "allow dom0");
	assert_short(pol, "svc", "work", "uuid:" UUID_DOM0, "allow dom0");
	assert_short("svc * uuid:" UUID_DOM0 " work allow\n", "svc", "dom0", "work", "allow work");
	assert_short("svc * dom0 work allow\n", "svc", "uuid:" UUID_DOM0, "work", "allow work");
	/* target= by uuid: the result names the qube */
	assert_short(pol, "red", "work", "personal", "allow sa");
	assert_short(pol, "red0", "work", "personal", "allow dom0");
	assert_short(pol, "redd", "work", "personal", "allow @dispvm:default-dvm");
	assert_short(pol, "gone", "work", "personal",
		     "deny invalid target at test.policy:6: uuid:" UUID_NOSUCH);
	/* disposables of a template named by uuid */
	assert_short(pol, "dvm", "work", "@dispvm:default-dvm", "allow @dispvm:default-dvm");
	assert_short(pol, "dvm", "work", "@dispvm:uuid:" UUID_DVM, "allow @dispvm:default-dvm");
	assert_short(pol, "dvm", "work", "@dispvm", "allow @dispvm:default-dvm");
	assert_short(pol, "dvm", "personal", "@dispvm:uuid:" UUID_NOSUCH,
		     "deny not a template for dispvm: uuid:" UUID_NOSUCH);
	/* a named target and uuid:... source is the caller itself */
	assert_short(pol, "red", "uuid:" UUID_SA, "work",
		     "deny loopback qrexec connection not supported");
	/* ask: targets and the default are names */
	assert_eval(pol, "ask", "uuid:" UUID_WORK, "uuid:" UUID_SA,
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"default-dvm\","
		    "\"disp42\",\"fedora\",\"personal\",\"plain\",\"sa\",\"untrusted\"],"
		    "\"default_target\":\"sa\",\"rule\":\"test.policy:8\"}");
	assert_eval(pol, "askr", "work", "personal",
		    "{\"action\":\"ask\",\"targets\":[\"sa\"],\"default_target\":null,"
		    "\"rule\":\"test.policy:9\"}");
	/* collected ask targets name the qube, however the rule did */
	assert_eval("svc * work uuid:" UUID_SA " ask\nsvc * work @dispvm:uuid:" UUID_DVM " allow\n",
		    "svc", "work", "sa",
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"sa\"],"
		    "\"default_target\":null,\"rule\":\"test.policy:1\"}");
}

static void test_internal_not_offered(void **state)
{
	/* Qubes hides internal qubes from the prompt: as targets and as disposable templates */
	assert_eval("svc * work @anyvm ask\n", "svc", "work", "",
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"default-dvm\","
		    "\"disp42\",\"fedora\",\"personal\",\"plain\",\"sa\",\"untrusted\"],"
		    "\"default_target\":null,\"rule\":\"test.policy:1\"}");
	assert_short("svc * work hidden ask\n", "svc", "work", "hidden",
		     "deny policy define 'ask' action at test.policy:1 but no target is available "
		     "to choose from");
	assert_short("svc * work @dispvm:hidden ask\n", "svc", "work", "@dispvm:hidden",
		     "deny policy define 'ask' action at test.policy:1 but no target is available "
		     "to choose from");
	/* not so for an ask that names it with target=, nor for allow */
	assert_eval("svc * work @anyvm ask target=hidden\n", "svc", "work", "sa",
		    "{\"action\":\"ask\",\"targets\":[\"hidden\"],\"default_target\":null,"
		    "\"rule\":\"test.policy:1\"}");
	assert_short("svc * work @anyvm allow\n", "svc", "work", "hidden", "allow hidden");
}

static void test_default_target(void **state)
{
	const char *pol = "svc * work @default allow target=personal\n"
			  "svc * @anyvm @default ask default_target=sa\n"
			  "svc * @anyvm @anyvm allow\n"
			  "two * @anyvm @anyvm allow\n";
	/* "" and "@default" both mean: the caller named no target */
	assert_short(pol, "svc", "work", "", "allow personal");
	assert_short(pol, "svc", "work", "@default", "allow personal");
	assert_eval(pol, "svc", "untrusted", "",
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"default-dvm\","
		    "\"disp42\",\"fedora\",\"personal\",\"plain\",\"sa\",\"work\"],"
		    "\"default_target\":\"sa\",\"rule\":\"test.policy:2\"}");
	/* @anyvm matches @default too, but allow needs a target */
	assert_short(pol, "two", "work", "",
		     "deny policy define 'allow' action at test.policy:4 but no target is "
		     "specified by caller or policy");
}

static void test_dispvm(void **state)
{
	const char *pol = "svc * work @dispvm allow\n"
			  "svc * untrusted @dispvm allow\n"
			  "svc * personal @dispvm allow\n"
			  "tpl * @anyvm @dispvm:default-dvm allow\n"
			  "tag * @anyvm @dispvm:@tag:dvm-tag allow\n"
			  "red * @anyvm @anyvm allow target=@dispvm\n"
			  "red2 * @anyvm @anyvm allow target=@dispvm:default-dvm\n";
	/* @dispvm is a new disposable of the caller's default_dispvm */
	assert_short(pol, "svc", "work", "@dispvm", "allow @dispvm:default-dvm");
	/* whose default is not a disposable template: refused */
	assert_short(pol, "svc", "untrusted", "@dispvm", "deny not a template for dispvm: plain");
	assert_short(pol, "svc", "personal", "@dispvm",
		     "deny policy define 'allow' action to @dispvm at test.policy:3 but no DispVM "
		     "base is set for this VM");
	/* @dispvm:NAME only if NAME is a disposable template */
	assert_short(pol, "tpl", "work", "@dispvm:default-dvm", "allow @dispvm:default-dvm");
	assert_short(pol, "tpl", "work", "@dispvm:plain", "deny not a template for dispvm: plain");
	assert_short(pol, "tpl", "work", "@dispvm:nosuch",
		     "deny not a template for dispvm: nosuch");
	/* a rule for @dispvm:NAME matches @dispvm when NAME is the caller's default */
	assert_short(pol, "tpl", "work", "@dispvm", "allow @dispvm:default-dvm");
	assert_short(pol, "tpl", "personal", "@dispvm", "deny no matching rule found");
	/* @dispvm:@tag:T: disposables of templates tagged T */
	assert_short(pol, "tag", "work", "@dispvm:default-dvm", "allow @dispvm:default-dvm");
	assert_short(pol, "tag", "work", "@dispvm", "allow @dispvm:default-dvm");
	assert_short(pol, "tag", "untrusted", "@dispvm", "deny no matching rule found");
	/* the plain @dispvm rule does not match @dispvm:NAME */
	assert_short(pol, "svc", "work", "@dispvm:default-dvm", "deny no matching rule found");
	/* redirects to disposables */
	assert_short(pol, "red", "work", "sa", "allow @dispvm:default-dvm");
	assert_short(pol, "red2", "personal", "sa", "allow @dispvm:default-dvm");
}

static void test_redirect(void **state)
{
	const char *pol = "svc * work sa allow target=personal user=alice\n"
			  "svc * work fedora ask target=dom0\n"
			  "svc * work disp42 deny\n"
			  "bad * work sa allow target=nosuch\n";
	/* the matched line's action stands, the target changes */
	assert_eval(pol, "svc", "work", "sa",
		    "{\"action\":\"allow\",\"target\":\"personal\",\"user\":\"alice\","
		    "\"autostart\":true,\"notify\":false,\"rule\":\"test.policy:1\"}");
	assert_eval(pol, "svc", "work", "fedora",
		    "{\"action\":\"ask\",\"targets\":[\"dom0\"],\"default_target\":null,"
		    "\"rule\":\"test.policy:2\"}");
	assert_short(pol, "svc", "work", "disp42", "deny denied by policy test.policy:3");
	assert_short(pol, "bad", "work", "sa", "deny invalid target at test.policy:4: nosuch");
}

static void test_ask_targets(void **state)
{
	/* Collected from every line for this service and source: later lines first, so earlier
	 * ones win; deny takes away; redirects count as what they name. */
	const char *pol = "svc * work personal deny\n"
			  "svc * work @anyvm ask default_target=sa\n"
			  "svc * work @tag:bad allow\n"
			  "svc * work @anyvm deny\n"
			  "svc * work fedora allow target=disp42\n"
			  "svc * work sa deny\n"
			  "svc * personal @anyvm allow\n"
			  "other * work @anyvm allow\n";
	assert_eval(pol, "svc", "work", "",
		    "{\"action\":\"ask\",\"targets\":[\"@dispvm:default-dvm\",\"default-dvm\","
		    "\"disp42\",\"fedora\",\"plain\",\"sa\",\"untrusted\"],"
		    "\"default_target\":\"sa\",\"rule\":\"test.policy:2\"}");
	/* autostart=no offers only running qubes; a default not offered is dropped */
	const char *nostart = "svc * work @anyvm ask autostart=no default_target=personal\n";
	assert_eval(nostart, "svc", "work", "",
		    "{\"action\":\"ask\",\"targets\":[\"disp42\",\"sa\"],\"default_target\":null,"
		    "\"rule\":\"test.policy:1\"}");
	/* nothing to offer: denied */
	assert_short("svc * work @default ask\n", "svc", "work", "",
		     "deny policy define 'ask' action at test.policy:1 but no target is available "
		     "to choose from");
	/* the ask result carries user, autostart and notify */
	struct policy *p =
	    load("svc * work @anyvm ask user=bob notify=yes default_target=@dispvm\n");
	struct policy_result res;
	assert_int_equal(policy_evaluate(p, &si, "svc", "work", "sa", &res), 0);
	assert_int_equal(res.action, POLICY_ASK);
	assert_string_equal(res.user, "bob");
	assert_true(res.notify);
	assert_true(res.autostart);
	assert_string_equal(res.default_target, "@dispvm:default-dvm");
	policy_result_finish(&res);
	policy_free(p);
}

static void test_autostart(void **state)
{
	const char *pol = "svc * @anyvm @anyvm allow autostart=no\n"
			  "svc * @anyvm dom0 allow autostart=no\n";
	assert_short(pol, "svc", "work", "sa", "allow sa");
	assert_short(pol, "svc", "work", "personal",
		     "deny target personal is denied because it would require autostart");
	assert_short(
	    pol, "svc", "work", "@dispvm",
	    "deny target @dispvm:default-dvm is denied because it would require autostart");
	assert_short(pol, "svc", "work", "dom0", "allow dom0");
	struct policy *p = load(pol);
	struct policy_result res;
	assert_int_equal(policy_evaluate(p, &si, "svc", "work", "sa", &res), 0);
	assert_false(res.autostart);
	policy_result_finish(&res);
	policy_free(p);
}

static void test_check_service_name(void **state)
{
	const char *why = NULL;
	char long_svc[POLICY_SERVICE_MAX + 2], long_arg[POLICY_ARGUMENT_MAX + 6];

	assert_int_equal(policy_check_service_name("bulkhead.Filecopy", NULL), 0);
	assert_int_equal(policy_check_service_name("admin.vm.List+", NULL), 0);
	assert_int_equal(policy_check_service_name("a_b-c.D+x.y_z-1+2", NULL), 0);
	assert_int_equal(policy_check_service_name("", &why), -EINVAL);
	assert_string_equal(why, "empty service name");
	assert_int_equal(policy_check_service_name("+arg", &why), -EINVAL);
	assert_int_equal(policy_check_service_name("..", &why), -EINVAL);
	assert_int_equal(policy_check_service_name("a/b", &why), -EINVAL);
	assert_string_equal(why, "forbidden character in service name");
	assert_int_equal(policy_check_service_name("a b", &why), -EINVAL);
	assert_int_equal(policy_check_service_name("svc+a b", &why), -EINVAL);
	assert_string_equal(why, "forbidden character in argument");
	assert_int_equal(policy_check_service_name("svc+\xc3\xa9", &why), -EINVAL);
	memset(long_svc, 'a', sizeof(long_svc) - 1);
	long_svc[sizeof(long_svc) - 1] = '\0';
	assert_int_equal(policy_check_service_name(long_svc, &why), -EINVAL);
	assert_string_equal(why, "service name too long");
	long_svc[POLICY_SERVICE_MAX] = '\0';
	assert_int_equal(policy_check_service_name(long_svc, NULL), 0);
	strcpy(long_arg, "s+");
	memset(long_arg + 2, 'x', POLICY_ARGUMENT_MAX + 1);
	long_arg[POLICY_ARGUMENT_MAX + 3] = '\0';
	assert_int_equal(policy_check_service_name(long_arg, &why), -EINVAL);
	assert_string_equal(why, "argument too long");
	long_arg[POLICY_ARGUMENT_MAX + 2] = '\0';
	assert_int_equal(policy_check_service_name(long_arg, NULL), 0);
}

static void test_sysinfo_json(void **state)
{
	struct policy_sysinfo *s = NULL;
	char *err = NULL;
	struct json_object *o = json_tokener_parse(
	    "{\"domains\": {\"dom0\": {\"type\": \"AdminVM\", \"tags\": [], \"power_state\": "
	    "\"Running\"}, \"w\": {\"type\": \"AppVM\", \"tags\": [\"a\", \"b\"], "
	    "\"default_dispvm\": \"d\", \"template_for_dispvms\": false, \"power_state\": "
	    "\"Halted\", \"icon\": \"x\"}, \"d\": {\"type\": \"AppVM\", \"default_dispvm\": null, "
	    "\"template_for_dispvms\": true, \"uuid\": \"" UUID_DVM "\", \"internal\": true}}}");
	assert_int_equal(policy_sysinfo_from_json(o, &s, &err), 0);
	json_object_put(o);
	assert_int_equal(s->n_domains, 3);
	const struct policy_domain *w = NULL;
	for (size_t i = 0; i < s->n_domains; i++)
		if (streq(s->domains[i].name, "w"))
			w = &s->domains[i];
	assert_non_null(w);
	assert_int_equal(w->n_tags, 2);
	assert_string_equal(w->tags[1], "b");
	assert_string_equal(w->default_dispvm, "d");
	assert_string_equal(w->power_state, "Halted");
	assert_null(w->uuid);
	assert_false(w->internal);
	const struct policy_domain *dd = NULL;
	for (size_t i = 0; i < s->n_domains; i++)
		if (streq(s->domains[i].name, "d"))
			dd = &s->domains[i];
	assert_non_null(dd);
	assert_string_equal(dd->uuid, UUID_DVM);
	assert_true(dd->internal);

	struct policy *p =
	    load("svc * @tag:b @dispvm allow\nsvc * @tag:b @dispvm:uuid:" UUID_DVM " allow\n");
	struct policy_result res;
	assert_int_equal(policy_evaluate(p, s, "svc", "w", "@dispvm", &res), 0);
	assert_string_equal(res.target, "@dispvm:d");
	policy_result_finish(&res);
	assert_int_equal(policy_evaluate(p, s, "svc", "w", "@dispvm:uuid:" UUID_DVM, &res), 0);
	assert_string_equal(res.target, "@dispvm:d");
	policy_result_finish(&res);
	policy_free(p);
	policy_sysinfo_free(s);

	static const char *const bad[] = {
	    "[]",
	    "{\"domains\": []}",
	    "{\"domains\": {\"x\": {}}}",
	    "{\"domains\": {\"x\": {\"type\": 1}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"tags\": \"a\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"tags\": [1]}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"template_for_dispvms\": \"yes\"}}}",
	    "{\"domains\": {\"@anyvm\": {\"type\": \"AppVM\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"App\\u0000VM\"}}}",
	    /* uuids: the canonical lowercase form, one qube each; no uuid: aliases as names */
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"uuid\": 1}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"uuid\": \"x\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"uuid\": \"uuid:" UUID_SA "\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"uuid\": "
	    "\"C9024A97-9B15-46CC-8341-38D75D5D421B\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"uuid\": \"" UUID_SA "\"}, "
	    "\"y\": {\"type\": \"AppVM\", \"uuid\": \"" UUID_SA "\"}}}",
	    "{\"domains\": {\"uuid:" UUID_SA "\": {\"type\": \"AppVM\"}}}",
	    "{\"domains\": {\"x\": {\"type\": \"AppVM\", \"internal\": \"1\"}}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		o = json_tokener_parse(bad[i]);
		assert_non_null(o);
		s = (struct policy_sysinfo *)0x1;
		err = NULL;
		assert_int_equal(policy_sysinfo_from_json(o, &s, &err), -EINVAL);
		assert_ptr_equal(s, (struct policy_sysinfo *)0x1);
		assert_non_null(err);
		free(err);
		json_object_put(o);
	}
}

/* --- directories --- */

static char *tmp_root(void)
{
	char *d = xstrdup("/tmp/test-policy-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void remove_tree(const char *dir)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Loads dir; returns the errors as "FILE:LINE: MESSAGE\n" lines with dir replaced by "D", or
 * "" when it loaded (then *ret holds the policy). */
static char *load_dir_errors(const char *dir, struct policy **ret)
{
	struct policy *p = NULL;
	struct policy_error *errs = NULL;
	size_t n = 0;
	char *out = xstrdup("");
	int r = policy_load_dir(dir, &p, &errs, &n);
	assert_true(r == 0 || r == -EINVAL);
	assert_true((r == 0) == (n == 0));
	for (size_t i = 0; i < n; i++) {
		char *line =
		    xasprintf("%s%s:%u: %s\n", out, errs[i].file, errs[i].line, errs[i].message);
		free(out);
		out = line;
	}
	/* Replace every occurrence of dir by D for stable expectations. */
	for (char *at; (at = strstr(out, dir));) {
		char *line = xasprintf("%.*sD%s", (int)(at - out), out, at + strlen(dir));
		free(out);
		out = line;
	}
	policy_errors_free(errs, n);
	if (ret)
		*ret = p;
	else
		policy_free(p);
	return out;
}

/* "allow TARGET RULE", "ask RULE", "deny RULE" or "deny REASON"; RULE without its directory. */
static char *dir_eval(struct policy *p, const char *service, const char *source, const char *target)
{
	struct policy_result res;
	char *s;
	assert_int_equal(policy_evaluate(p, &si, service, source, target, &res), 0);
	const char *rule =
	    res.rule ? strrchr(res.rule, '/') ? strrchr(res.rule, '/') + 1 : res.rule : NULL;
	if (res.action == POLICY_ALLOW)
		s = xasprintf("allow %s %s", res.target, rule);
	else if (res.action == POLICY_ASK)
		s = xasprintf("ask %s", rule);
	else
		s = xasprintf("deny %s", rule ? rule : res.reason);
	policy_result_finish(&res);
	return s;
}

#define assert_dir_eval(p, service, source, target, expected)                                      \
	do {                                                                                       \
		_cleanup_free_ char *_got = dir_eval(p, service, source, target);                  \
		assert_string_equal(_got, expected);                                               \
	} while (0)

static void test_file_names_and_order(void **state)
{
	_cleanup_free_ char *root = tmp_root();
	struct policy *p = NULL;

	write_file(root, "10-first.policy", "svc * work sa deny\n");
	write_file(root, "2-later.policy", "svc * work sa allow\nsvc * work personal allow\n");
	/* ignored: dot files, other suffixes, directories */
	write_file(root, ".hidden.policy", "this is not policy\n");
	write_file(root, "README", "neither is this\n");
	write_file(root, "30-x.policy.rpmsave", "nor this\n");
	make_dir(root, "sub.policy");
	_cleanup_free_ char *e = load_dir_errors(root, &p);
	assert_string_equal(e, "");
	/* C-locale order: "10-" before "2-" */
	assert_dir_eval(p, "svc", "work", "sa", "deny 10-first.policy:1");
	policy_free(p);

	/* one invalid name fails everything */
	write_file(root, "20-Upper.policy", "svc * work personal allow\n");
	write_file(root, "21 space.policy", "\n");
	_cleanup_free_ char *e2 = load_dir_errors(root, &p);
	assert_string_equal(e2, "D/20-Upper.policy:0: invalid filename: D/20-Upper.policy\n"
				"D/21 space.policy:0: invalid filename: D/21 space.policy\n");
	assert_null(p);
	remove_tree(root);

	/* a missing directory is an error too */
	_cleanup_free_ char *e3 = load_dir_errors("/nonexistent/policy.d", NULL);
	/* D: the directory itself */
	assert_string_equal(e3, "D:0: not a directory: D\n");
}

static void test_includes(void **state)
{
	_cleanup_free_ char *root = tmp_root();
	struct policy *p = NULL;

	make_dir(root, "include");
	make_dir(root, "more");
	write_file(root, "10-main.policy",
		   "first * @anyvm @anyvm allow\n"
		   "!include include/common\n"
		   "!include-dir more\n"
		   "!include-service old.Svc * include/old-svc\n"
		   "!include-service old.Arg +x include/old-arg\n"
		   "last * @anyvm @anyvm deny\n");
	write_file(root, "include/common", "inc * work sa allow user=carol\n");
	write_file(root, "more/50-b.policy", "dir * work sa deny\n");
	write_file(root, "more/40-a.policy", "dir * work sa allow\n");
	write_file(root, "more/ignored.txt", "garbage\n");
	/* the old format: SOURCE TARGET ACTION[,PARAMS], $ for @, $include: */
	write_file(root, "include/old-svc",
		   "# comment\n"
		   "work $dispvm allow\n"
		   "$anyvm $anyvm ask,default_target=sa,user=root\n"
		   "$include:include/old-more\n");
	write_file(root, "include/old-more", "personal sa allow\n");
	write_file(root, "include/old-arg", "work sa allow\n");
	_cleanup_free_ char *e = load_dir_errors(root, &p);
	assert_string_equal(e, "");
	assert_dir_eval(p, "first", "work", "sa", "allow sa 10-main.policy:1");
	assert_dir_eval(p, "inc", "work", "sa", "allow sa common:1");
	assert_dir_eval(p, "dir", "work", "sa", "allow sa 40-a.policy:1");
	assert_dir_eval(p, "old.Svc+anything", "work", "@dispvm",
			"allow @dispvm:default-dvm old-svc:2");
	assert_dir_eval(p, "old.Svc", "personal", "sa", "ask old-svc:3");
	assert_dir_eval(p, "old.Arg+x", "work", "sa", "allow sa old-arg:1");
	assert_dir_eval(p, "old.Arg+y", "work", "sa", "deny no matching rule found");
	assert_dir_eval(p, "last", "work", "sa", "deny 10-main.policy:6");
	policy_free(p);

	/* includes that do not exist */
	write_file(root, "20-bad.policy",
		   "!include include/nosuch\n!include-dir nodir\n!include-service a * nosuch\n");
	_cleanup_free_ char *e2 = load_dir_errors(root, &p);
	assert_string_equal(e2, "D/20-bad.policy:1: not a file: D/include/nosuch\n"
				"D/20-bad.policy:2: not a directory: D/nodir\n"
				"D/20-bad.policy:3: not a file: D/nosuch\n");
	remove_tree(root);
}

static void test_include_loops(void **state)
{
	_cleanup_free_ char *root = tmp_root();
	struct policy *p = NULL;

	make_dir(root, "include");
	write_file(root, "10-a.policy", "!include include/b\n");
	write_file(root, "include/b", "x * @anyvm @anyvm deny\n!include include/c\n");
	write_file(root, "include/c", "\n!include include/b\n");
	_cleanup_free_ char *e = load_dir_errors(root, &p);
	assert_string_equal(e, "D/include/c:2: include loop: D/include/b is already being read\n");
	assert_null(p);
	remove_tree(root);
	free(root);

	/* a file including itself, and a directory including itself */
	root = tmp_root();
	write_file(root, "10-self.policy", "!include 10-self.policy\n");
	write_file(root, "20-dir.policy", "!include-dir .\n");
	_cleanup_free_ char *e2 = load_dir_errors(root, &p);
	assert_string_equal(e2, "D/10-self.policy:1: include loop: D/10-self.policy is already "
				"being read\n"
				"D/./10-self.policy:1: include loop: D/10-self.policy is already "
				"being read\n"
				"D/20-dir.policy:1: include loop: D/./20-dir.policy is already "
				"being read\n");
	assert_null(p);

	/* the same file included twice (not a loop) is fine */
	remove_tree(root);
	free(root);
	root = tmp_root();
	make_dir(root, "include");
	write_file(root, "10-a.policy", "!include include/x\n!include include/x\n");
	write_file(root, "include/x", "x * @anyvm @anyvm deny\n");
	_cleanup_free_ char *e3 = load_dir_errors(root, &p);
	assert_string_equal(e3, "");
	assert_int_equal(policy_n_rules(p), 2);
	policy_free(p);
	remove_tree(root);
}

static void test_compat40(void **state)
{
	_cleanup_free_ char *root = tmp_root();
	_cleanup_free_ char *dir = xasprintf("%s/policy.d", root);
	struct policy *p = NULL;

	make_dir(root, "policy.d");
	make_dir(root, "rpc-policy");
	write_file(dir, "10-new.policy",
		   "test.Before * @anyvm @anyvm allow\n"
		   "!compat-4.0\n"
		   "test.After * @anyvm @anyvm allow\n"
		   "test.Arg +x @anyvm @anyvm allow\n");
	_cleanup_free_ char *old = xasprintf("%s/rpc-policy", root);
	write_file(old, "test.After", "$anyvm $anyvm deny\n");
	write_file(old, "test.Arg+x", "work sa allow\n");
	write_file(old, "test.Arg", "$anyvm $anyvm ask\n");
	write_file(old, "bad name", "ignored: not a service name\n");
	/* editor and package-manager leftovers and dot files are skipped, as Qubes does (its
	 * IGNORED_SUFFIXES: .rpmsave, .rpmnew, .swp); other suffixes are service names */
	write_file(old, "test.After.rpmsave", "$anyvm $anyvm allow\n");
	write_file(old, "test.After.rpmnew", "$anyvm $anyvm allow\n");
	write_file(old, "test.After.swp", "$anyvm $anyvm allow\n");
	write_file(old, ".test.After", "$anyvm $anyvm allow\n");
	write_file(old, "test.Arg+x.rpmsave", "personal sa allow\n");
	write_file(old, "test.Kept.orig", "work sa allow\n");
	_cleanup_free_ char *e = load_dir_errors(dir, &p);
	assert_string_equal(e, "");
	assert_dir_eval(p, "test.Before", "work", "sa", "allow sa 10-new.policy:1");
	/* the old files come where !compat-4.0 stands */
	assert_dir_eval(p, "test.After", "work", "sa", "deny test.After:1");
	assert_dir_eval(p, "test.Arg+x", "work", "sa", "allow sa test.Arg+x:1");
	/* after a file for one argument, 4.0's implicit deny; the file for every argument is read
	 * after the specific ones */
	assert_dir_eval(p, "test.Arg+x", "personal", "sa", "deny test.Arg+x:0");
	assert_dir_eval(p, "test.Arg+y", "personal", "sa", "ask test.Arg:1");
	assert_dir_eval(p, "test.After.rpmsave", "work", "sa", "deny no matching rule found");
	assert_dir_eval(p, "test.After.swp", "work", "sa", "deny no matching rule found");
	assert_dir_eval(p, "test.Kept.orig", "work", "sa", "allow sa test.Kept.orig:1");
	/* nothing else was read */
	assert_int_equal(policy_n_rules(p), 3 + 1 + 3 + 1 + 1);
	policy_free(p);
	remove_tree(root);
}

static void test_fail_closed(void **state)
{
	_cleanup_free_ char *root = tmp_root();
	struct policy *p = (struct policy *)0x1;
	struct policy_error *errs = NULL;
	size_t n = 0;

	write_file(root, "10-good.policy", "svc * @anyvm @anyvm allow\n");
	write_file(root, "20-bad.policy", "\n\nsvc * @anyvm @anyvm alow\n");
	assert_int_equal(policy_load_dir(root, &p, &errs, &n), -EINVAL);
	/* no policy at all: the caller has nothing to allow with */
	assert_ptr_equal(p, (struct policy *)0x1);
	assert_int_equal(n, 1);
	assert_int_equal(errs[0].line, 3);
	assert_true(strstr(errs[0].file, "/20-bad.policy") != NULL);
	policy_errors_free(errs, n);
	remove_tree(root);
}

static void test_shipped_default_policy(void **state)
{
	/* golden_dir is tests/unit/policy/golden; the shipped file is policy/90-default.policy */
	_cleanup_free_ char *dir = xasprintf("%s/../../../../policy", golden_dir);
	struct policy *p = NULL;
	_cleanup_free_ char *e = load_dir_errors(dir, &p);
	assert_string_equal(e, "");
	assert_dir_eval(p, "bulkhead.Filecopy", "work", "", "ask 90-default.policy:8");
	assert_dir_eval(p, "bulkhead.OpenInVM", "work", "@dispvm",
			"allow @dispvm:default-dvm 90-default.policy:11");
	assert_dir_eval(p, "bulkhead.OpenURL", "work", "personal", "ask 90-default.policy:14");
	assert_dir_eval(p, "bulkhead.GetDate", "untrusted", "dom0",
			"allow dom0 90-default.policy:17");
	_cleanup_free_ char *shell = dir_eval(p, "bulkhead.VMShell", "work", "personal");
	assert_true(strncmp(shell, "deny 90-default.policy:", 23) == 0);
	_cleanup_free_ char *adm = dir_eval(p, "admin.vm.List", "work", "dom0");
	assert_true(strncmp(adm, "deny 90-default.policy:", 23) == 0);
	_cleanup_free_ char *adm2 = dir_eval(p, "admin.vm.Kill", "work", "dom0");
	assert_true(strncmp(adm2, "deny", 4) == 0);
	policy_free(p);
}

/* The updates proxy: templates to sys-net (started if need be), nobody else, whatever target
 * they name. */
static void test_default_updates_proxy(void **state)
{
	_cleanup_free_ char *dir = xasprintf("%s/../../../../policy", golden_dir);
	static const struct policy_domain doms[] = {
	    {.name = "dom0", .type = "AdminVM", .power_state = "Running"},
	    {.name = "sys-net", .type = "AppVM", .power_state = "Halted"},
	    {.name = "debian", .type = "TemplateVM", .power_state = "Running"},
	    {.name = "work", .type = "AppVM", .power_state = "Running"},
	    {.name = "sa", .type = "StandaloneVM", .power_state = "Running"},
	};
	static const struct policy_sysinfo si2 = {doms, ARRAY_SIZE(doms)};
	static const struct policy_sysinfo no_net = {doms + 2, ARRAY_SIZE(doms) - 2};
	struct policy *p = NULL;
	struct policy_result res;
	_cleanup_free_ char *e = load_dir_errors(dir, &p);
	assert_string_equal(e, "");

	assert_int_equal(
	    policy_evaluate(p, &si2, "bulkhead.UpdatesProxy", "debian", "@default", &res), 0);
	assert_int_equal(res.action, POLICY_ALLOW);
	assert_string_equal(res.target, "sys-net");
	policy_result_finish(&res);
	/* the target the caller names does not matter: the rule's target= decides */
	assert_int_equal(policy_evaluate(p, &si2, "bulkhead.UpdatesProxy", "debian", "work", &res),
			 0);
	assert_int_equal(res.action, POLICY_DENY);
	policy_result_finish(&res);
	static const char *const others[] = {"work", "sa", "sys-net"};
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		assert_int_equal(
		    policy_evaluate(p, &si2, "bulkhead.UpdatesProxy", others[i], "@default", &res),
		    0);
		assert_int_equal(res.action, POLICY_DENY);
		policy_result_finish(&res);
	}
	/* without a sys-net, a template's call is refused (no target) */
	assert_int_equal(
	    policy_evaluate(p, &no_net, "bulkhead.UpdatesProxy", "debian", "@default", &res), 0);
	assert_int_equal(res.action, POLICY_DENY);
	policy_result_finish(&res);
	policy_free(p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_errors),
	    cmocka_unit_test(test_default_updates_proxy),
	    cmocka_unit_test(test_all_errors_listed),
	    cmocka_unit_test(test_first_match_and_no_match),
	    cmocka_unit_test(test_service_and_argument),
	    cmocka_unit_test(test_dom0_and_anyvm),
	    cmocka_unit_test(test_type_and_tag),
	    cmocka_unit_test(test_unknown_names),
	    cmocka_unit_test(test_wildcard),
	    cmocka_unit_test(test_dom0_tag_and_type),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_internal_not_offered),
	    cmocka_unit_test(test_default_target),
	    cmocka_unit_test(test_dispvm),
	    cmocka_unit_test(test_redirect),
	    cmocka_unit_test(test_ask_targets),
	    cmocka_unit_test(test_autostart),
	    cmocka_unit_test(test_check_service_name),
	    cmocka_unit_test(test_sysinfo_json),
	    cmocka_unit_test(test_file_names_and_order),
	    cmocka_unit_test(test_includes),
	    cmocka_unit_test(test_include_loops),
	    cmocka_unit_test(test_compat40),
	    cmocka_unit_test(test_fail_closed),
	    cmocka_unit_test(test_shipped_default_policy),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
