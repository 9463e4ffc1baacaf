/* render.h - the JSON documents and header values m2td answers with. */
#ifndef M2TD_RENDER_H
#define M2TD_RENDER_H

#include <stddef.h>

#include "coding.h"
#include "models.h"

/* "0eb2c7d54173bc81": how model ids are written everywhere. */
void render_model_id(uint64_t id, char out[17]);
/* Bits per pixel of a bitstream. */
double render_bpp(const m2t_bitstream_info *info);
/* "m2t;order=qlds;steps=12;alpha=2.2" */
void render_schedule(const m2t_bitstream_info *info, char *out, size_t size);

/* Compress answer with Accept: application/json: the header fields, each
 * patch's size and the bitstream in base64. NULL when out of memory. */
char *render_compress_json(const coding *c, size_t *size);

/* GET /v1/models. */
char *render_models_json(const model_set *set, size_t *size);

/* {"error": {"code": code, "message": message}} */
char *render_error_json(const char *code, const char *message, size_t *size);

#endif
