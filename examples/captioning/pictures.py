"""The captioning example's synthetic pictures and vocabulary, shared by the Keras trainer
(make_model.py) and the Chainer one (chainer/train.py), and free of either framework so a test can
draw held-out pictures cheaply: one circle, square or triangle, small or big, red, green, blue or
yellow, at a random place on a noisy dark background, captioned "a big red circle"."""

import numpy as np

SIZE = 32
COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": (4, 6), "big": (9, 12)}          # radius / half side range in pixels
WORDS = ["<pad>", "<start>", "<end>", "a"] + list(SIZES) + list(COLORS) + list(SHAPES)
START, END = WORDS.index("<start>"), WORDS.index("<end>")
CAPTION_LEN = 6                                       # <start> a SIZE COLOR SHAPE <end>
MAX_WORDS = 10                                        # decoding stops here if <end> never comes


def draw(shape: str, size: str, color: str, rng) -> np.ndarray:
    """One uint8 [32, 32, 3] picture: a noisy dark background and one jittered shape."""
    img = rng.integers(0, 40, size=(SIZE, SIZE, 3)).astype(np.int32)
    r = int(rng.integers(SIZES[size][0], SIZES[size][1] + 1))
    cy, cx = rng.integers(r + 1, SIZE - r - 1, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        inside = dy * dy + dx * dx <= r * r
    elif shape == "square":
        inside = (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85)
    else:                                             # upward triangle with its base at cy + r
        inside = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    jitter = rng.integers(-25, 26, size=3)
    img[inside] = np.clip(np.array(COLORS[color]) + jitter, 0, 255)
    return img.astype(np.uint8)


def make_data(n: int, rng):
    images, captions = [], []
    for _ in range(n):
        shape, size = SHAPES[rng.integers(len(SHAPES))], list(SIZES)[rng.integers(len(SIZES))]
        color = list(COLORS)[rng.integers(len(COLORS))]
        images.append(draw(shape, size, color, rng))
        captions.append(["<start>", "a", size, color, shape, "<end>"])
    ids = np.array([[WORDS.index(w) for w in c] for c in captions], dtype="int32")
    return np.stack(images), ids, [" ".join(c[1:-1]) for c in captions]


def to_float(images: np.ndarray) -> np.ndarray:
    return images.astype("float32") / np.float32(255)
