// Validates Kubernetes objects against the Kubernetes API's own OpenAPI schemas (kubernetes-models,
// installed next to this file by scripts/install-deps.sh). check_kubernetes_schema.py is the test;
// this is its validator, run by Node.
//
// stdin: a JSON array of objects. stdout: a JSON array with one entry per object, in order:
//   {"errors": ["/spec/replicas: must be integer", ...]}   (empty when the object is valid)
//   {"problem": "no schema for ..."}                        (the apiVersion/kind is not known)
"use strict";

const fs = require("fs");

// apiVersion "apps/v1" or "v1", kind "Deployment": the module kubernetes-models/apps/v1/Deployment.
// Anything else is refused rather than turned into a module path.
const API_VERSION = /^([a-z0-9][a-z0-9.-]*\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || !API_VERSION.test(apiVersion) || typeof kind !== "string" ||
      !KIND.test(kind)) {
    return null;
  }
  let module;
  try {
    module = require(`kubernetes-models/${apiVersion}/${kind}`);
  } catch (error) {
    if (error.code === "MODULE_NOT_FOUND" || error.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null;
    throw error;
  }
  const model = module[kind];
  // The model must be the one for this very apiVersion and kind, not a shared type of that name.
  return model && model.apiVersion === apiVersion && model.kind === kind ? model : null;
}

function validate(object) {
  const model = modelFor(object && object.apiVersion, object && object.kind);
  if (!model) return { problem: `no schema for apiVersion ${object && object.apiVersion} kind ${object && object.kind}` };
  try {
    new model(object).validate();
    return { errors: [] };
  } catch (error) {
    if (!Array.isArray(error.errors)) throw error;  // not a ValidationError: a defect, let it show
    return {
      errors: error.errors.map((e) => {
        const detail = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
        return `${e.instancePath || "/"}: ${e.message}${detail}`;
      }),
    };
  }
}

const objects = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(objects.map(validate)) + "\n");
