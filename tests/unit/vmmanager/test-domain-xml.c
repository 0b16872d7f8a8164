/* libvirt domain XML: byte-for-byte against golden files, and refusal of bad parameters.
 * Usage: test-domain-xml GOLDEN_DIR. With BULKHEAD_UPDATE_GOLDEN=1 the golden files are
 * rewritten instead (review the diff before committing it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "domain-xml.h"
#include "qube.h"
#include "golden.h"
#include "util.h"

static const char *golden_dir;

static void check_golden(const char *name, const char *text)
{
	golden_check(golden_dir, name, text);
}

static struct qube *appvm(void)
{
	struct qube *q = NULL;

	assert_int_equal(qube_new("work", QUBE_APPVM, LABEL_BLUE, &q), 0);
	assert_int_equal(qube_prop_set(q, "template", "debian-12", NULL), 0);
	return q;
}

static struct domain_params appvm_params(const struct qube *q)
{
	return (struct domain_params){
	    .q = q,
	    .domain_name = "bulkhead-work",
	    .uuid = "8e5f3c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6b",
	    .kvm = true,
	    .vsock = true,
	    .kernel = "/var/lib/bulkhead/kernels/default/vmlinuz",
	    .initrd = "/var/lib/bulkhead/kernels/default/initramfs.img",
	    .cmdline = "root=/dev/vda rw console=ttyS0 quiet bulkhead.name=work",
	    .root = "/var/lib/bulkhead/qubes/work/root-overlay.qcow2",
	    .private_ = "/var/lib/bulkhead/qubes/work/private.qcow2",
	    .volatile_ = "/var/lib/bulkhead/qubes/work/volatile.qcow2",
	    .modules = "/var/lib/bulkhead/kernels/default/modules.img",
	    .channel_path = "/run/bulkhead/qubes/work.sock",
	    .gui_channel_path = "/run/bulkhead/qubes/work.gui.sock",
	    .console_log = "/var/lib/bulkhead/qubes/work/console.log",
	    .metadata_state_dir = "/var/lib/bulkhead",
	    .hotplug_ports = 2,
	};
}

static void test_appvm_kvm(void **state)
{
	struct qube *q = appvm();
	struct domain_params p = appvm_params(q);
	char *xml = NULL;

	assert_int_equal(domain_xml_generate(&p, &xml), 0);
	check_golden("appvm-kvm.xml", xml);
	free(xml);
	qube_free(q);
}

static void test_templatevm_tcg(void **state)
{
	struct qube *q = NULL;
	char *xml = NULL;

	assert_int_equal(qube_new("debian-12", QUBE_TEMPLATEVM, LABEL_BLACK, &q), 0);
	assert_int_equal(qube_prop_set(q, "memory", "1024", NULL), 0);
	assert_int_equal(qube_prop_set(q, "maxmem", "0", NULL), 0);
	assert_int_equal(qube_prop_set(q, "vcpus", "1", NULL), 0);
	/* Everything XML must escape, in what a user may put on the kernel command line. */
	assert_int_equal(
	    qube_prop_set(q, "kernelopts", "quiet x=\"a b\" y='c' <tag> & z=</cmdline>&amp;", NULL),
	    0);
	_cleanup_free_ char *cmdline =
	    xasprintf("root=/dev/vda rw console=ttyS0 bulkhead.name=%s %s", q->name, q->kernelopts);
	struct domain_params p = {
	    .q = q,
	    .domain_name = "bulkhead-debian-12",
	    .kvm = false,
	    .kernel = "/srv/state dir/kernels/6.1.0-28-amd64/vmlinuz",
	    .cmdline = cmdline,
	    .root = "/srv/state dir/qubes/debian-12/root.qcow2",
	    .private_ = "/srv/state dir/qubes/debian-12/private.qcow2",
	    .volatile_ = "/srv/state dir/qubes/debian-12/volatile.qcow2",
	    .modules = "/srv/state dir/kernels/6.1.0-28-amd64/modules.img",
	    .channel_path = "/run/bulkhead/qubes/debian-12.sock",
	    .console_log = "/srv/state dir/qubes/debian-12/console.log",
	    .metadata_state_dir = "/srv/state dir/a&b\"c'<d>",
	    .hotplug_ports = 4,
	};

	assert_int_equal(domain_xml_generate(&p, &xml), 0);
	check_golden("templatevm-tcg.xml", xml);
	free(xml);
	qube_free(q);
}

static void test_optional_parts(void **state)
{
	struct qube *q = appvm();
	struct domain_params p = appvm_params(q);
	char *xml = NULL;

	p.uuid = NULL;
	p.initrd = NULL;
	p.cmdline = NULL;
	p.volatile_ = NULL;
	p.modules = NULL;
	p.gui_channel_path = NULL;
	p.metadata_state_dir = NULL;
	assert_int_equal(domain_xml_generate(&p, &xml), 0);
	assert_null(strstr(xml, "<uuid>"));
	assert_null(strstr(xml, "<initrd>"));
	assert_null(strstr(xml, "<cmdline>"));
	assert_null(strstr(xml, "vdc"));
	assert_null(strstr(xml, "vdd"));
	assert_null(strstr(xml, "org.bulkhead.gui"));
	assert_null(strstr(xml, "statedir"));
	assert_non_null(strstr(xml, "org.bulkhead.control"));
	/* maxmem below memory cannot shrink the domain under its current memory. */
	free(xml);
	q->memory = 2000;
	q->maxmem = 1000;
	assert_int_equal(domain_xml_generate(&p, &xml), 0);
	assert_non_null(strstr(xml, "<memory unit=\"KiB\">2048000</memory>"));
	assert_non_null(strstr(xml, "<currentMemory unit=\"KiB\">2048000</currentMemory>"));
	free(xml);
	qube_free(q);
}

static void test_bad_params(void **state)
{
	struct qube *q = appvm();
	char *xml = NULL;
	char long_name[66];
	struct domain_params p;

#define EXPECT_EINVAL(field, value)                                                                \
	do {                                                                                       \
		p = appvm_params(q);                                                               \
		p.field = value;                                                                   \
		assert_int_equal(domain_xml_generate(&p, &xml), -EINVAL);                          \
		assert_null(xml);                                                                  \
	} while (0)

	EXPECT_EINVAL(q, NULL);
	EXPECT_EINVAL(domain_name, NULL);
	EXPECT_EINVAL(domain_name, "");
	EXPECT_EINVAL(domain_name, "a b");
	EXPECT_EINVAL(domain_name, "a/b");
	EXPECT_EINVAL(domain_name, "..");
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	EXPECT_EINVAL(domain_name, long_name);
	EXPECT_EINVAL(uuid, "not-a-uuid");
	EXPECT_EINVAL(uuid, "8e5f3c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6b0");
	EXPECT_EINVAL(uuid, "8e5f3c1a-2b4d-4e6f-8a0b-1c2d3e4f5a6");
	EXPECT_EINVAL(uuid, "8e5f3c1a+2b4d-4e6f-8a0b-1c2d3e4f5a6b");
	EXPECT_EINVAL(hotplug_ports, DOMAIN_HOTPLUG_PORTS_MAX + 1);
	EXPECT_EINVAL(kernel, NULL);
	EXPECT_EINVAL(kernel, "vmlinuz");
	EXPECT_EINVAL(initrd, "relative/initrd");
	EXPECT_EINVAL(root, NULL);
	EXPECT_EINVAL(private_, NULL);
	EXPECT_EINVAL(private_, "/x\n<disk>");
	EXPECT_EINVAL(volatile_, "/x\ty");
	EXPECT_EINVAL(modules, "/caf\xc3\xa9");
	EXPECT_EINVAL(channel_path, NULL);
	EXPECT_EINVAL(gui_channel_path, "");
	EXPECT_EINVAL(console_log, NULL);
	EXPECT_EINVAL(metadata_state_dir, "x");
	EXPECT_EINVAL(cmdline, "quiet\ninit=/bin/sh");

	p = appvm_params(q);
	q->vcpus = 0;
	assert_int_equal(domain_xml_generate(&p, &xml), -EINVAL);
	q->vcpus = 2;
	q->memory = 0;
	assert_int_equal(domain_xml_generate(&p, &xml), -EINVAL);
	q->memory = 400;
	assert_int_equal(domain_xml_generate(&p, &xml), 0);
	free(xml);
	qube_free(q);
}

/* The accelerator probe's guest, with each CPU model the probe falls back to. */
static void test_probe(void **state)
{
	struct probe_domain_params p = {
	    .domain_name = "bulkhead-_accel-probe",
	    .kvm = true,
	    .cpu = DOMAIN_CPU_QEMU64,
	    .kernel = "/var/lib/bulkhead/kernels/default/vmlinuz",
	    .initrd = "/var/lib/bulkhead/kernels/default/initramfs.img",
	    .cmdline = "console=ttyS0 panic=-1 bulkhead.probe",
	    .console_log = "/var/lib/bulkhead/accel-probe.console",
	};
	char *xml = NULL;

	assert_int_equal(domain_xml_probe(&p, &xml), 0);
	check_golden("probe-kvm-qemu64.xml", xml);
	free(xml);
	p.kvm = false;
	assert_int_equal(domain_xml_probe(&p, &xml), 0);
	check_golden("probe-tcg.xml", xml);
	free(xml);
	p.kvm = true;
	p.cpu = DOMAIN_CPU_HOST_MODEL;
	assert_int_equal(domain_xml_probe(&p, &xml), 0);
	assert_non_null(strstr(xml, "<cpu mode=\"host-model\"/>"));
	free(xml);

	p.cpu = _DOMAIN_CPU_MAX;
	assert_int_equal(domain_xml_probe(&p, &xml), -EINVAL);
	p.cpu = DOMAIN_CPU_HOST_PASSTHROUGH;
	p.initrd = NULL;
	assert_int_equal(domain_xml_probe(&p, &xml), -EINVAL);
	p.initrd = "/i";
	p.cmdline = "a\nb";
	assert_int_equal(domain_xml_probe(&p, &xml), -EINVAL);
	p.cmdline = "x";
	p.domain_name = "a/b";
	assert_int_equal(domain_xml_probe(&p, &xml), -EINVAL);

	/* A qube's domain takes the CPU model too, and refuses one out of range. */
	struct qube *q = appvm();
	struct domain_params dp = appvm_params(q);
	dp.cpu = DOMAIN_CPU_QEMU64;
	assert_int_equal(domain_xml_generate(&dp, &xml), 0);
	assert_non_null(strstr(xml, ">qemu64</model>"));
	free(xml);
	dp.cpu = (enum domain_cpu)42;
	assert_int_equal(domain_xml_generate(&dp, &xml), -EINVAL);
	qube_free(q);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appvm_kvm),	   cmocka_unit_test(test_templatevm_tcg),
	    cmocka_unit_test(test_optional_parts), cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_probe),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
