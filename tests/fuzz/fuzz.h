/* The libFuzzer entry point every target defines; replay.c calls it for saved inputs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
