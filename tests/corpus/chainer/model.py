"""A tiny Chainer model: the corpus's convert_chainer cases load it with bad parameters."""
import chainer
import chainer.links as L


class Tiny(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.l1 = L.Linear(3, 2)

    def __call__(self, x):
        return self.l1(x)


def build():
    return Tiny()


def exits():
    raise SystemExit(0)
