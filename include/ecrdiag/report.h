/* Renderers of one diagnosis: the JSON report (schema ecrdiag.report/v1, a public contract)
 * and the text a person reads. Neither probes nor decides anything. Depends on diag. */
#ifndef ECRDIAG_REPORT_H
#define ECRDIAG_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "ecrdiag/diag.h"

#define REPORT_SCHEMA "ecrdiag.report/v1"

/* The report as a JSON object; the caller decrefs. NULL when out of memory. */
json_t *report_json(const struct diagnosis *d);

struct report_text_options {
  bool color; /* ANSI colours (a terminal without NO_COLOR) */
  int width;  /* wrap prose at this column; 0: 100 */
};

/* The report for a person, to out. */
void report_text(const struct diagnosis *d, const struct report_text_options *o, FILE *out);

#endif
