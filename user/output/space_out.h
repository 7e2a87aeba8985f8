/* SPDX-License-Identifier: GPL-2.0-only */
/* The timeline report: JSON, a text summary, and the Perfetto, CSV and SVG files. */
#ifndef HT_SPACE_OUT_H
#define HT_SPACE_OUT_H

#include <stdio.h>
#include "model/model.h"
#include "model/space.h"
#include "output/json.h"
#include "output/outfile.h"

void space_out_json(const struct space *s, const struct model *m, struct json *j);
void space_out_text(const struct space *s);
/* Writes the Perfetto, CSV and SVG files that were opened, and closes them: 0 or -1 (said). */
int space_out_files(const struct space *s, struct out_file *perfetto, struct out_file *csv,
		    struct out_file *svg);

#endif
