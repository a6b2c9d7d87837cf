// The captioning page's model switch: the Keras model or the Chainer one, behind one interface.
//
// Both end in a stateful single-step decoder (one runner.step() per word); they differ in how an image
// becomes the decoder's starting LSTM state:
// - keras: the encoder outputs the initial state itself (init_h, init_c);
// - chainer: the encoder outputs an image feature, and a third tiny bundle (`prime`, the chain's
//   prime(feature) = lstm(feature) from a zero state) turns it into the state, as WebDNN's demo feeds the
//   feature into the LSTM before the first word. Its state outputs become the decoder's state inputs.

const setState = (runner, h, c) => {
  runner.resetState();
  const states = runner.inputs.filter((x) => x.role === "state");
  states.find((x) => x.name.endsWith("_h")).set(h);
  states.find((x) => x.name.endsWith("_c")).set(c);
};

/** pixels: uint8 HWC RGB -> float32 / 255 in the layout the encoder takes. */
const scaled = (pixels) => Float32Array.from(pixels, (v) => v / 255);

function nchw(pixels, size) {
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < size * size; i++) {
    for (let ch = 0; ch < 3; ch++) x[ch * size * size + i] = pixels[i * 3 + ch] / 255;
  }
  return x;
}

export const MODELS = {
  keras: {
    label: "Keras",
    async load(load, backendOrder) {
      return { encoder: await load("./encoder/", { backendOrder }),
               decoder: await load("./decoder/", { backendOrder }) };
    },
    wordOutput: "next_word",
    /** Keras' greedy caption of each of the page's samples (samples.json, made by make_model.py). */
    referenceFile: "samples.json",
    references: async (samples) => samples.samples.map((s) => s.keras),
    /** Runs the encoder on one image and sets the decoder's state from it. */
    async start({ encoder, decoder }, pixels) {
      encoder.input("image").set(scaled(pixels));
      await encoder.run();
      setState(decoder, encoder.output("init_h").toActual(), encoder.output("init_c").toActual());
    },
  },
  chainer: {
    label: "Chainer",
    async load(load, backendOrder) {
      const runners = {};
      for (const name of ["encoder", "prime", "decoder"]) {
        runners[name] = await load(`./chainer/${name}/`, { backendOrder });
      }
      return runners;
    },
    wordOutput: "output",
    /** Chainer's greedy caption of each of the page's samples (chainer/samples.json, made by train.py). */
    referenceFile: "chainer/samples.json",
    async references() {
      return (await (await fetch(`./${this.referenceFile}`)).json()).samples.map((s) => s.chainer);
    },
    async start({ encoder, prime, decoder }, pixels, size) {
      encoder.input("image").set(nchw(pixels, size));
      await encoder.run();
      prime.resetState();
      prime.input("feature").set(encoder.output("output").toActual());
      await prime.run();
      setState(decoder, prime.output("lstm_h_next").toActual(), prime.output("lstm_c_next").toActual());
    },
  },
};
