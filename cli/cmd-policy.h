/* bulkhead policy: eval and lint (cmd-policy.c). */
#pragma once

struct cli_command;

int cmd_policy(const struct cli_command *cmd, int argc, char **argv);
