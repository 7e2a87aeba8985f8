// SPDX-License-Identifier: GPL-2.0-only
/* The one definition of every setting and shared map that bpf/shared.h declares. */
#define HT_SHARED_DEFINE
#include "shared.h"

char LICENSE[] SEC("license") = "GPL";
