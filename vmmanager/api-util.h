/* Helpers every API handler family uses (api-util.c). Each one that fails has replied to the
 * client already, unless it says otherwise. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "api-request.h"
#include "qube.h"

struct client;
struct daemon;
struct vm;

/* The payload's member key, or NULL (or def) when missing or of another type. */
const char *payload_str(const struct api_request *req, const char *key);
bool payload_bool(const struct api_request *req, const char *key, bool def);
int64_t payload_int(const struct api_request *req, const char *key, int64_t def);
/* Looks up req->dest; replies with an error and returns NULL when there is no such qube. */
struct vm *dest_vm(struct daemon *d, struct client *c, const struct api_request *req);
/* The API error for a failed disk operation: out of space, or a plain qube error. */
const char *errno_to_api(int r);
/* Rules every reference between qubes follows, for create and property.Set alike: -errno and
 * *ret_msg (no reply) when tname cannot be the template of a qube of class klass. */
int check_template_ref(struct daemon *d, enum qube_class klass, const char *tname, char **ret_msg);
/* Saves copy and puts it in vm's place; on failure replies, frees copy and returns -errno. */
int commit_change(struct daemon *d, struct client *c, struct vm *vm, struct qube *copy);
