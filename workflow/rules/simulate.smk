# Integrate a system's sampled initial states into results/data/{system}.zarr (with a split by N,
# config ood_particles, its test_ood split in the group ood_particles: phasebench.particle_ood).


rule simulate:
    input:
        plugin=lambda w: SYSTEMS[w.system]["plugin_path"],
        code=lambda w: CODE.of("phasebench.particle_ood", SYSTEMS[w.system]["plugin_path"]),
    output:
        directory("results/data/{system}.zarr"),
    log:
        "results/logs/simulate/{system}.log",
    params:
        settings=lambda w: json.dumps(experiment.simulate_settings(SYSTEMS[w.system])),
    shell:
        "OMP_NUM_THREADS={threads} phasebench simulate --settings {params.settings:q} --out {output:q} 2>&1 | tee {log:q}"
