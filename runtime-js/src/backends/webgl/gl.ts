// The WebGL2 constants this backend uses, as a const enum: esbuild inlines the numbers (the spec fixes
// them) instead of reading gl.TEXTURE_2D and the like at every use.
export const enum GL {
  TRIANGLES = 0x0004,
  DITHER = 0x0bd0, BLEND = 0x0be2, UNPACK_ALIGNMENT = 0x0cf5, PACK_ALIGNMENT = 0x0d05,
  MAX_TEXTURE_SIZE = 0x0d33, TEXTURE_2D = 0x0de1, FLOAT = 0x1406, RED = 0x1903, RGBA = 0x1908,
  NEAREST = 0x2600, TEXTURE_MAG_FILTER = 0x2800, TEXTURE_MIN_FILTER = 0x2801, TEXTURE_WRAP_S = 0x2802,
  TEXTURE_WRAP_T = 0x2803, CLAMP_TO_EDGE = 0x812f, R32F = 0x822e, RGBA32F = 0x8814, MAX_DRAW_BUFFERS = 0x8824,
  TEXTURE0 = 0x84c0, FRAGMENT_SHADER = 0x8b30, VERTEX_SHADER = 0x8b31, LINK_STATUS = 0x8b82,
  COLOR_ATTACHMENT0 = 0x8ce0, FRAMEBUFFER = 0x8d40,
}
