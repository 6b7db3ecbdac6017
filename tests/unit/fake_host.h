/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A mesh_host for unit tests: cgroup ids and netns cookies are hashes of the
 * path strings, so no real cgroup or netns is needed. */
#ifndef SHUNT_TEST_FAKE_HOST_H
#define SHUNT_TEST_FAKE_HOST_H

#include "control/mesh_plan.h"

extern const struct mesh_host fake_host;

#endif
