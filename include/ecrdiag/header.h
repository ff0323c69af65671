/* One HTTP header as a name/value pair of borrowed strings: the shape shared by the signer
 * and the HTTP layer, so neither depends on the other. */
#ifndef ECRDIAG_HEADER_H
#define ECRDIAG_HEADER_H

struct http_header {
  const char *name;
  const char *value;
};

#endif
