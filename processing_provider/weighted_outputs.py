"""What the two weighting algorithms (the step and the one-shot) add after the patch layer:
the sampler CSV, the HTML report, and the figures returned as outputs."""
from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
)

from ..balance_core.report import render_report
from ..balance_core.splits import training_table
from ..balance_core.writers import atomic_path, write_csv, write_loss_weights
from .parameters import add


def add_weighted_outputs(alg):
    tr = alg.tr
    add(alg, QgsProcessingParameterFeatureSink("OUTPUT", tr("Balanced patches"), QgsProcessing.TypeVectorPolygon),
        "Patch footprints with composition, exclusion flags, clusters, uniqueness and sampler_weight, styled by weight.")
    add(alg, QgsProcessingParameterFileDestination("OUTPUT_CSV", tr("Sampler CSV"), tr("CSV files (*.csv)"),
                                                   optional=True, createByDefault=False),
        "Optional CSV with the same columns plus class_dist_json, for PyTorch's WeightedRandomSampler.")
    add(alg, QgsProcessingParameterFileDestination("REPORT", tr("Balance report"), tr("HTML files (*.html)"),
                                                   optional=True, createByDefault=False),
        "Optional HTML report (opens in the Processing results viewer): per class the share of labelled pixels raw "
        "and under the weights and the patches holding it; a weight histogram; the effective sample size; the largest "
        "oversampling factor; the composition clusters.")
    add(alg, QgsProcessingParameterFileDestination("LOSS_WEIGHTS", tr("Loss class weights (JSON)"),
                                                   tr("JSON files (*.json)"), optional=True, createByDefault=False),
        "Optional JSON: per class value (with its name when known) the class weight the loss still needs once the "
        "sampler draws with these weights (largest drawn class share / the class's drawn share), beside the one it "
        "would need without sampling; its 'weights' list is ready for torch.nn.CrossEntropyLoss(weight=…).")
    for key, label in (("PATCH_COUNT", "Number of patches"), ("EXCLUDED_COUNT", "Number of excluded patches"),
                       ("CLUSTER_COUNT", "Number of composition clusters"),
                       ("EFFECTIVE_SAMPLE_SIZE", "Effective sample size (Σw)²/Σw²"),
                       ("MAX_OVERSAMPLING", "Largest oversampling factor (max weight / mean weight)")):
        alg.addOutput(QgsProcessingOutputNumber(key, tr(label)))


def class_names(legend) -> dict:
    return {value: info.name for value, info in (legend or {}).items()}


def weight_settings(config) -> dict:
    """The settings the report lists."""
    settings = {"Signals": config.mode, "Sampling method": config.sampling_method}
    if config.sampling_method == "class_balance":
        settings.update({"Target class shares": config.target, "Balance strength": f"{config.balance_strength:g}"})
    if config.sampling_method == "repeat_factor":
        settings["Repeat-factor threshold"] = f"{config.rfs_threshold:g}"
    cap = config.oversampling_cap
    settings["Oversampling cap"] = f"{cap:g}×" if cap else "none"
    return settings


def finish_weighted(alg, parameters, context, table, legend, dest_id, settings: dict, train_split: str = "train") -> dict:
    csv_path = alg.parameterAsFileOutput(parameters, "OUTPUT_CSV", context)
    report_path = alg.parameterAsFileOutput(parameters, "REPORT", context)
    loss_path = alg.parameterAsFileOutput(parameters, "LOSS_WEIGHTS", context)
    if csv_path:
        write_csv(table, csv_path)
    # with a split, the balance (report, loss weights) is the training split's: the others are never drawn
    training = training_table(table, train_split)
    if training is not table:
        settings = {**settings, "Weighted split": f"{train_split} ({len(training)} of {len(table)} patches)"}
    if loss_path:
        write_loss_weights(training, loss_path, class_names(legend))
    if report_path:
        text = render_report(training, legend, "Patch Balancer — balance report", settings)
        with atomic_path(report_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    included = ~training["excluded"]
    weights = training["sampler_weight"]  # never all 0 (checked by the engine)
    return {
        "OUTPUT": dest_id,
        "OUTPUT_CSV": csv_path or None,
        "REPORT": report_path or None,
        "LOSS_WEIGHTS": loss_path or None,
        "PATCH_COUNT": len(table),
        "EXCLUDED_COUNT": int(table["excluded"].sum()),
        "CLUSTER_COUNT": int(len(set(training["freq_cluster_id"][included].tolist()))) if "freq_cluster_id" in training else 0,
        "EFFECTIVE_SAMPLE_SIZE": float(weights.sum() ** 2 / (weights ** 2).sum()),
        "MAX_OVERSAMPLING": float(weights.max() / weights.mean()),
    }
