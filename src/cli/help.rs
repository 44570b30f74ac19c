//! The example sections of `--help`: a few commands per subcommand that run as written (a test
//! parses every line that starts with `diffusion-lab`, so they cannot drift from the flags).

/// The top level: the window, and where the subcommands are.
pub const TOP: &str = "\
Without a subcommand the app window opens; every subcommand runs headless.

Examples:
  diffusion-lab
  diffusion-lab --preset lesson-forward --view presenter
  diffusion-lab --preset mnist-canonical-cpu --train
  diffusion-lab --view player --screenshot player.png --size 1280x800
  diffusion-lab sample --n 64 --grid samples.png
  diffusion-lab completions bash > ~/.local/share/bash-completion/completions/diffusion-lab";

/// `schedule`.
pub const SCHEDULE: &str = "\
Examples:
  diffusion-lab schedule --kind cosine --steps 1000
  diffusion-lab schedule --kind linear --steps 1000 --format json
  diffusion-lab schedule --kind custom --expr 1e-4+0.02*u^2 --steps 500";

/// `timesteps`.
pub const TIMESTEPS: &str = "\
Examples:
  diffusion-lab timesteps --train-steps 1000 --steps 50
  diffusion-lab timesteps --train-steps 1000 --steps 10 --spacing leading";

/// `train`.
pub const TRAIN: &str = "\
Ctrl+C (or SIGTERM) saves a checkpoint and exits 130; a second Ctrl+C exits at once.

Examples:
  diffusion-lab train --preset presets/mnist-tiny.toml
  diffusion-lab train --preset presets/mnist-canonical-cpu.toml --steps 20000 --out my-run
  diffusion-lab train --resume my-run --steps 30000
  diffusion-lab train --resume my-run --steps 34000 --lr-final 2e-5";

/// `sample`.
pub const SAMPLE: &str = "\
Examples:
  diffusion-lab sample --n 64 --grid samples.png
  diffusion-lab sample --sampler ddpm --n 16 --gif chain.gif --label
  diffusion-lab sample --checkpoint bundled:mnist-cond --class 7 --cfg-scale 2 --grid sevens.png
  diffusion-lab sample --checkpoint bundled:mnist-cond --class all --grid digits.png
  diffusion-lab sample --from-card card.json --grid again.png";

/// `forward`.
pub const FORWARD: &str = "\
Examples:
  diffusion-lab forward --data mnist --index 3 --kind cosine --t 0,100,250,500 --out strip.png
  diffusion-lab forward --data mnist --columns 8 --spacing log-snr --also cosine,sigmoid --out rows.png
  diffusion-lab forward --data photo.jpg --size 64 --chain --columns 6 --out photo.png";

/// `toy`.
pub const TOY: &str = "\
Examples:
  diffusion-lab toy --dataset moons --train-steps 3000 --out points.csv --data-out data.csv
  diffusion-lab toy --dataset gmm --true-score --sampler annealed --gif langevin.gif --out points.csv
  diffusion-lab toy --dataset swiss --sampler ddim --eta 0.5 --train-steps 5000 --out points.csv";

/// `study`.
pub const STUDY: &str = "\
Examples:
  diffusion-lab study --preset presets/schedule-study.toml
  diffusion-lab study --preset presets/data-quality.toml --epochs 2 --out dq-study
  diffusion-lab study --preset presets/seed000.toml --seeds 5 --out seed000-table";

/// `add-layer`.
pub const ADD_LAYER: &str = "\
Examples:
  diffusion-lab add-layer --preset presets/seed000.toml --unet assets/models/seed000-folder2
  diffusion-lab add-layer --preset presets/seed000.toml --steps 300 --out my-layer";

/// `grid`.
pub const GRID: &str = "\
Examples:
  diffusion-lab grid --preset presets/ddim-grid.toml --out grid.csv --png grid.png
  diffusion-lab grid --etas 0,0.5,1 --steps 10,50 --n 64 --out grid.csv";

/// `score`.
pub const SCORE: &str = "\
Examples:
  diffusion-lab score --n 1000 --seeds 5
  diffusion-lab score --checkpoint my-run --n 1000 --json quality.json
  diffusion-lab score --npy samples.npy --data mnist";

/// `nll`.
pub const NLL: &str = "\
Examples:
  diffusion-lab nll --n 256
  diffusion-lab nll --checkpoint my-run --n 256 --t-samples 200 --terms terms.csv";

/// `half`.
pub const HALF: &str = "\
Examples:
  diffusion-lab half --checkpoint my-run
  diffusion-lab score --checkpoint my-run --n 1000";

/// `bench`.
pub const BENCH: &str = "\
Examples:
  diffusion-lab bench train --batch 32,64 --python /path/to/venv/bin/python
  diffusion-lab bench quality --help
  diffusion-lab bench window --view forward --renderer glow";

/// `classifier`.
pub const CLASSIFIER: &str = "\
Examples:
  diffusion-lab classifier check --data mnist
  diffusion-lab classifier train --data fashion-mnist --out fashion-classifier";

/// `completions`.
pub const COMPLETIONS: &str = "\
Examples:
  diffusion-lab completions bash > ~/.local/share/bash-completion/completions/diffusion-lab
  diffusion-lab completions zsh > ~/.zfunc/_diffusion-lab
  diffusion-lab completions fish > ~/.config/fish/completions/diffusion-lab.fish";
