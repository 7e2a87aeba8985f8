/* SPDX-License-Identifier: GPL-2.0-only */
/* The timeline report: JSON, a text summary, and the Perfetto, CSV and SVG files. */
#ifndef HT_SPACE_OUT_H
#define HT_SPACE_OUT_H

#include <stdio.h>
#include "model/model.h"
#include "model/space.h"
#include "output/json.h"

void space_out_json(const struct space *s, const struct model *m, struct json *j);
void space_out_text(const struct space *s);
/* A file asked for (--perfetto, --csv, --svg), opened before tracing: a bad path fails first. */
struct space_out_file {
	const char *path; /* NULL: not asked for */
	FILE *f;
};

/* Creates the file at path (if one) for writing: 0, or -1 after saying why. */
int space_out_open(struct space_out_file *o, const char *path);
/* Writes the Perfetto, CSV and SVG files that were opened, and closes them: 0 or -1 (said). */
int space_out_files(const struct space *s, struct space_out_file *perfetto,
		    struct space_out_file *csv, struct space_out_file *svg);

#endif
