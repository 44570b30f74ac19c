//! Sample quality and likelihood: the numbers the seeds judge models by.
//!
//! - [`classifier`]: the feature network (a small CNN per labelled data set, trained by the
//!   app, shipped in `assets/classifiers/`).
//! - [`stats`]: FID, KID, IS, precision/recall and the class histogram on feature vectors.
//! - [`score`]: the table of a sample set next to its reference rows.
//! - [`nll`]: the variational bound in bits/dim.
//! - [`guidance`]: classifier-free guidance's accuracy/FID trade-off over w.
//!
//! Every figure is "⟨data⟩-classifier features, not comparable with Inception FID".

pub mod classifier;
pub mod guidance;
pub mod nll;
pub mod score;
pub mod seed000;
pub mod stats;

pub use classifier::{
    Classifier, ClassifierError, ClassifierInfo, ClassifierTrainConfig, Embedding, FEATURES,
    FeatureNet, train_classifier,
};
pub use guidance::{
    GUIDANCE_GAMMAS, GUIDANCE_WEIGHTS, GuidanceAxis, GuidanceCurve, GuidancePoint, guidance_curve,
};
pub use nll::{NllOptions, NllReport, nll_bound, nll_bound_var};
pub use score::{
    Figure, Reference, ScoreReport, ScoreRow, blur, classifier_for, feature_note, finite_images,
    reference_rows, score_row, score_sets,
};
