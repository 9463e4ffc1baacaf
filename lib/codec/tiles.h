/* tiles.h - how an image's latent grid is cut into independent jobs.
 *
 * Transforms run on tiles of M2T_TILE_ROWS x M2T_TILE_COLS latents, each
 * computed from its own crop with a halo of M2T_TILE_HALO latents (32 px) on
 * every inner side: enough to cover the receptive field of the convolutions,
 * so a tile's latents (or pixels) do not depend on its neighbours, and the
 * result never depends on how many threads run the tiles. Tiles also bound
 * the memory of one job whatever the image size.
 */
#ifndef M2T_TILES_H
#define M2T_TILES_H

#include <stdint.h>

#define M2T_TILE_ROWS 16
#define M2T_TILE_COLS 64
#define M2T_TILE_HALO 2

typedef struct {
    uint32_t r0, r1;   /* latent rows [r0, r1) */
    uint32_t c0, c1;   /* latent columns [c0, c1) */
} m2t_region;

static inline uint32_t m2t_tiles_x(uint32_t latent_w)
{
    return (latent_w + M2T_TILE_COLS - 1) / M2T_TILE_COLS;
}

static inline uint32_t m2t_tiles_y(uint32_t latent_h)
{
    return (latent_h + M2T_TILE_ROWS - 1) / M2T_TILE_ROWS;
}

/* Tile i in raster order, clipped to the grid. */
static inline m2t_region m2t_tile_at(uint32_t latent_w, uint32_t latent_h, uint32_t i)
{
    uint32_t tx = i % m2t_tiles_x(latent_w), ty = i / m2t_tiles_x(latent_w);
    m2t_region r;
    r.r0 = ty * M2T_TILE_ROWS;
    r.c0 = tx * M2T_TILE_COLS;
    r.r1 = r.r0 + M2T_TILE_ROWS < latent_h ? r.r0 + M2T_TILE_ROWS : latent_h;
    r.c1 = r.c0 + M2T_TILE_COLS < latent_w ? r.c0 + M2T_TILE_COLS : latent_w;
    return r;
}

/* The region grown by the halo, clipped to the grid. */
static inline m2t_region m2t_region_with_halo(m2t_region r, uint32_t latent_w, uint32_t latent_h)
{
    m2t_region h;
    h.r0 = r.r0 > M2T_TILE_HALO ? r.r0 - M2T_TILE_HALO : 0;
    h.c0 = r.c0 > M2T_TILE_HALO ? r.c0 - M2T_TILE_HALO : 0;
    h.r1 = r.r1 + M2T_TILE_HALO < latent_h ? r.r1 + M2T_TILE_HALO : latent_h;
    h.c1 = r.c1 + M2T_TILE_HALO < latent_w ? r.c1 + M2T_TILE_HALO : latent_w;
    return h;
}

#endif
