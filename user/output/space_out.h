/* SPDX-License-Identifier: GPL-2.0-only */
/* The timeline report: JSON, a text summary, and the Perfetto, CSV and SVG files. */
#ifndef HT_SPACE_OUT_H
#define HT_SPACE_OUT_H

#include "model/model.h"
#include "model/space.h"
#include "output/json.h"

void space_out_json(const struct space *s, const struct model *m, struct json *j);
void space_out_text(const struct space *s);
/* Each form asked for (NULL: not) into its file. 0, or -1 after saying what failed. */
int space_out_files(const struct space *s, const char *perfetto, const char *csv, const char *svg);

#endif
