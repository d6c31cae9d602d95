#pragma once
// What `hearth pull` does once a reference is resolved, for other commands that install a
// model (`hearth run NAME` with a model not installed yet): the download with the progress bar
// on stderr, the first Ctrl-C stopping it cleanly (the .partial stays for the next run).
#include "registry/installer.h"

namespace hearth::cli {

registry::Installer make_installer(const registry::ModelsDir& dir);
registry::PullResult pull_with_progress(const registry::Installer& installer,
                                        const registry::PullPlan& plan,
                                        registry::PullOptions options);

}  // namespace hearth::cli
