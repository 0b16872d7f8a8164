/* What every API handler family shares: reading the payload, finding the destination qube,
 * naming an errno for the client, saving a changed qube. */
#include "api-request.h"
#include "api-server.h"
#include "api-util.h"
#include "api.h"
#include "daemon.h"
#include "qube.h"
#include "store.h"
#include "util.h"

const char *payload_str(const struct api_request *req, const char *key)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool payload_bool(const struct api_request *req, const char *key, bool def)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v))
		return def;
	return json_object_get_boolean(v);
}

int64_t payload_int(const struct api_request *req, const char *key, int64_t def)
{
	struct json_object *v;
	if (!req->payload || !json_object_is_type(req->payload, json_type_object) ||
	    !json_object_object_get_ex(req->payload, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

/* Looks up req->dest; replies with an error and returns NULL when there is no such qube. */
struct vm *dest_vm(struct daemon *d, struct client *c, const struct api_request *req)
{
	struct vm *vm = daemon_find_vm(d, req->dest);
	if (!vm) {
		if (streq(req->dest, "dom0"))
			client_reply_error(c, API_E_VALUE,
					   "dom0 (the host) cannot be changed here");
		else
			client_reply_error(c, API_E_NOT_FOUND, "no qube named '%s'", req->dest);
	}
	return vm;
}

const char *errno_to_api(int r)
{
	return r == -ENOSPC || r == -EDQUOT || r == -EFBIG ? API_E_NO_SPACE : API_E_VM;
}

/* Rules every reference between qubes follows, for create and property.Set alike. */
int check_template_ref(struct daemon *d, enum qube_class klass, const char *tname, char **ret_msg)
{
	struct vm *t = daemon_find_vm(d, tname);
	if (!t) {
		*ret_msg = xasprintf("no template named '%s'", tname);
		return -ENOENT;
	}
	if (klass == QUBE_DISPVM) {
		if (!t->q->template_for_dispvms) {
			*ret_msg = xasprintf("'%s' is not a disposable template "
					     "(set its template_for_dispvms to True)",
					     tname);
			return -EINVAL;
		}
	} else if (t->q->klass != QUBE_TEMPLATEVM) {
		*ret_msg = xasprintf("'%s' is not a TemplateVM (it is a %s)", tname,
				     qube_class_to_string(t->q->klass));
		return -EINVAL;
	}
	return 0;
}

/* Changes go to a copy, which replaces the qube only once it is safely on disk. */
int commit_change(struct daemon *d, struct client *c, struct vm *vm, struct qube *copy)
{
	int r = store_save(d->store, copy);
	if (r < 0) {
		client_reply_error(c, errno_to_api(r), "cannot save '%s': %s", vm->q->name,
				   strerror(-r));
		qube_free(copy);
		return r;
	}
	qube_free(vm->q);
	vm->q = copy;
	return 0;
}
